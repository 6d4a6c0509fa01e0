import { AccessKeyEntity } from './iam/identity/access-key.entity';
import { AccountEntity } from './iam/identity/account.entity';
import { GroupEntity, GroupMemberEntity } from './iam/identity/group.entity';
import { UserEntity } from './iam/identity/user.entity';
import { RoleEntity } from './iam/roles/role.entity';
import { InlinePolicyEntity, PolicyAttachmentEntity, PolicyEntity } from './iam/policies/policy.entity';
import { PipelineEntity, PipelineVersionEntity } from './pipelines/pipeline.entity';
import { ResourceTagEntity } from './tags/resource-tag.entity';

/** Every TypeORM entity, registered with the data source. */
export const entities = [
  AccountEntity,
  UserEntity,
  AccessKeyEntity,
  GroupEntity,
  GroupMemberEntity,
  PolicyEntity,
  PolicyAttachmentEntity,
  InlinePolicyEntity,
  RoleEntity,
  PipelineEntity,
  PipelineVersionEntity,
  ResourceTagEntity,
];
