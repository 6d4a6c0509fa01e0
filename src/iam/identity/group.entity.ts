import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

@Entity('groups')
export class GroupEntity {
  @PrimaryColumn('char', { name: 'account_id', length: 12 })
  accountId: string;

  @PrimaryColumn('text')
  id: string;

  @Column('text')
  name: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}

@Entity('group_members')
export class GroupMemberEntity {
  @PrimaryColumn('char', { name: 'account_id', length: 12 })
  accountId: string;

  @PrimaryColumn('text', { name: 'group_id' })
  groupId: string;

  @PrimaryColumn('text', { name: 'user_id' })
  userId: string;
}
