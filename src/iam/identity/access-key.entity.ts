import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

@Entity('access_keys')
export class AccessKeyEntity {
  @PrimaryColumn('char', { name: 'account_id', length: 12 })
  accountId: string;

  @PrimaryColumn('text')
  id: string;

  @Column('text', { name: 'user_id' })
  userId: string;

  @Column('text', { name: 'secret_hash' })
  secretHash: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
