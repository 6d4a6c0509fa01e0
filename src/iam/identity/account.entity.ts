import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

@Entity('accounts')
export class AccountEntity {
  @PrimaryColumn('char', { length: 12 })
  id: string;

  @Column('text')
  name: string;

  @Column('text', { name: 'root_password_hash' })
  rootPasswordHash: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
