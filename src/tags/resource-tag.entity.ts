import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity('resource_tags')
export class ResourceTagEntity {
  @PrimaryColumn('char', { name: 'account_id', length: 12 })
  accountId: string;

  @PrimaryColumn('text', { name: 'resource_arn' })
  resourceArn: string;

  @PrimaryColumn('text')
  key: string;

  @Column('text')
  value: string;
}
