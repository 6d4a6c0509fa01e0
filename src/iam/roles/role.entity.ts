import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

@Entity('roles')
export class RoleEntity {
  @PrimaryColumn('char', { name: 'account_id', length: 12 })
  accountId: string;

  /** Stable id (AWS's `AROA…`): a role deleted and created again under its name is a new role. */
  @PrimaryColumn('text')
  id: string;

  @Column('text')
  name: string;

  /** The trust policy, as given (validated). */
  @Column('jsonb', { name: 'assume_role_policy' })
  assumeRolePolicy: Record<string, unknown>;

  /** Seconds, 3,600 to 43,200. */
  @Column('integer', { name: 'max_session_duration' })
  maxSessionDuration: number;

  /** The permissions boundary: the canonical ARN of the policy that caps its permissions. */
  @Column('text', { name: 'permissions_boundary_arn', nullable: true })
  permissionsBoundaryArn: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
