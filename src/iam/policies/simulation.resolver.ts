import { GraphQLJSON } from 'graphql-scalars';
import { Arg, Ctx, Query, Resolver } from 'type-graphql';
import { callerOf, type GraphQLContext } from '../../graphql/context';
import { Permission } from '../../graphql/permission';
import { NotFoundError } from '../../platform/errors';
import {
  AuthorizationDecisionType,
  ContextEntryInput,
  type EvaluationLayerEnum,
  EvaluationResultType,
  type PolicyDecisionEnum,
  type MatchedStatementType,
} from '../iam.types';
import type { MatchedStatement } from '../policy/account-authorizer';
import type { SimulationResult } from './policy-simulator';

export function toMatchedStatement(m: MatchedStatement): MatchedStatementType {
  return { ...m, layer: m.layer as EvaluationLayerEnum | undefined };
}

export function toEvaluationResult(r: SimulationResult): EvaluationResultType {
  return {
    ...r,
    decision: r.decision as PolicyDecisionEnum,
    deniedBy: (r.deniedBy as EvaluationLayerEnum | undefined) ?? null,
    matchedStatements: r.matchedStatements.map(toMatchedStatement),
  };
}

const contextOf = (entries: ContextEntryInput[] | undefined): { key: string; values: string[] }[] =>
  (entries ?? []).map((e) => ({ key: e.contextKeyName, values: e.contextKeyValues }));

/** Policy simulation of documents given inline, and the explanations of denials. */
@Resolver()
export class SimulationResolver {
  @Query(() => [EvaluationResultType], {
    description:
      'How the given identity policies (capped by an optional permissions boundary) decide each action on each resource',
  })
  @Permission.iam('iam:SimulateCustomPolicy', () => '*')
  async simulateCustomPolicy(
    @Arg('policyInputList', () => [GraphQLJSON]) policyInputList: unknown[],
    @Arg('actionNames', () => [String]) actionNames: string[],
    @Arg('resourceArns', () => [String], { nullable: true }) resourceArns: string[] | undefined,
    @Arg('contextEntries', () => [ContextEntryInput], { nullable: true })
    contextEntries: ContextEntryInput[] | undefined,
    @Arg('permissionsBoundaryPolicyInputList', () => [GraphQLJSON], { nullable: true })
    permissionsBoundaryPolicyInputList: unknown[] | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<EvaluationResultType[]> {
    const results = await ctx.services.simulator.simulateCustom({
      policyInputList,
      permissionsBoundaryPolicyInputList: permissionsBoundaryPolicyInputList ?? [],
      actionNames,
      resourceArns: resourceArns ?? ['*'],
      context: contextOf(contextEntries),
    });
    return results.map(toEvaluationResult);
  }

  @Query(() => AuthorizationDecisionType, {
    description:
      "The explanation of an ACCESS_DENIED of the caller's account, by the decisionId its error carried (as STS's DecodeAuthorizationMessage)",
  })
  @Permission.iam('sts:DecodeAuthorizationMessage', () => '*')
  async authorizationDecision(
    @Arg('decisionId', () => String) decisionId: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AuthorizationDecisionType> {
    const found = await ctx.services.decisions.find(callerOf(ctx).accountId, decisionId);
    // Another account's decision reads exactly as an unknown one.
    if (!found) throw new NotFoundError(`No authorization decision ${decisionId} in this account`);
    return {
      decisionId: found.decisionId,
      time: new Date(found.time),
      principalArn: found.principalArn,
      actionName: found.action,
      resourceArn: found.resource,
      decision: found.decision as PolicyDecisionEnum,
      deniedBy: (found.deniedBy as EvaluationLayerEnum | undefined) ?? null,
      matchedStatements: found.matchedStatements.map(toMatchedStatement),
      reason: found.reason ?? null,
    };
  }
}
