import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

@Entity('users')
export class UserEntity {
  @PrimaryColumn('char', { name: 'account_id', length: 12 })
  accountId: string;

  /** Stable id (AWS's `AIDA…`): a user deleted and created again under its name is a new user. */
  @PrimaryColumn('text')
  id: string;

  @Column('text')
  name: string;

  /** Null when the user has no console password (access keys only). */
  @Column('text', { name: 'password_hash', nullable: true })
  passwordHash: string | null;

  /** The permissions boundary: the canonical ARN of the policy that caps its permissions. */
  @Column('text', { name: 'permissions_boundary_arn', nullable: true })
  permissionsBoundaryArn: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
