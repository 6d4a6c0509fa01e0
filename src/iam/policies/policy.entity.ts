import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export type PolicyHolderType = 'user' | 'group' | 'role';

/** A customer-managed policy of one account. */
@Entity('policies')
export class PolicyEntity {
  @PrimaryColumn('char', { name: 'account_id', length: 12 })
  accountId: string;

  @PrimaryColumn('text')
  id: string;

  @Column('text')
  name: string;

  @Column('text', { nullable: true })
  description: string | null;

  /** The document as the user wrote it (validated on write). */
  @Column('jsonb')
  document: unknown;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}

/** A managed or customer policy attached to a user, group or role, by ARN. */
@Entity('policy_attachments')
export class PolicyAttachmentEntity {
  @PrimaryColumn('char', { name: 'account_id', length: 12 })
  accountId: string;

  @PrimaryColumn('text', { name: 'principal_type' })
  principalType: PolicyHolderType;

  @PrimaryColumn('text', { name: 'principal_id' })
  principalId: string;

  @PrimaryColumn('text', { name: 'policy_arn' })
  policyArn: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}

/** A policy embedded in one user, group or role (put…Policy). */
@Entity('inline_policies')
export class InlinePolicyEntity {
  @PrimaryColumn('char', { name: 'account_id', length: 12 })
  accountId: string;

  @PrimaryColumn('text', { name: 'principal_type' })
  principalType: PolicyHolderType;

  @PrimaryColumn('text', { name: 'principal_id' })
  principalId: string;

  @PrimaryColumn('text')
  name: string;

  @Column('jsonb')
  document: unknown;
}
