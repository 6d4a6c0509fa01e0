import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { PipelineDeclaration } from './declaration/declaration';

@Entity('pipelines')
export class PipelineEntity {
  @PrimaryColumn('char', { name: 'account_id', length: 12 })
  accountId: string;

  @PrimaryColumn('text')
  name: string;

  @Column('integer')
  version: number;

  @Column('jsonb')
  declaration: PipelineDeclaration;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}

@Entity('pipeline_versions')
export class PipelineVersionEntity {
  @PrimaryColumn('char', { name: 'account_id', length: 12 })
  accountId: string;

  @PrimaryColumn('text', { name: 'pipeline_name' })
  pipelineName: string;

  @PrimaryColumn('integer')
  version: number;

  @Column('jsonb')
  declaration: PipelineDeclaration;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  /** ARN of the principal that wrote this version. */
  @Column('text', { name: 'created_by' })
  createdBy: string;
}
