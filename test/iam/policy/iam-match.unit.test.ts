import { describe, expect, it } from 'vitest';
import {
  iamWildcardMatch,
  parsePatternTemplate,
  renderTemplate,
  resolvePatternTemplate,
  matchesCompiled,
} from '../../../src/iam/policy/iam-match';
import { LruCache } from '../../../src/iam/policy/lru-cache';

const PIPE = 'arn:sluice:codepipeline:local:123456789012:MyPipe';

describe('iamWildcardMatch', () => {
  // [pattern, value, caseInsensitive, expected]
  // prettier-ignore
  const rows: [string, string, boolean, boolean][] = [
    ['*', '', false, true],
    ['*', PIPE, false, true],
    [PIPE, PIPE, false, true],
    [PIPE, `${PIPE}/Prod`, false, false],
    [`${PIPE}*`, `${PIPE}/Prod/Approve`, false, true], // `*` spans `/`
    ['arn:sluice:codepipeline:*:MyPipe', PIPE, false, true], // `*` spans `:`
    ['arn:sluice:codepipeline:*', `${PIPE}/Prod`, false, true],
    [`${PIPE}/*`, PIPE, false, false],
    [`${PIPE}/*`, `${PIPE}/`, false, true],
    ['arn:sluice:codepipeline:local:123456789012:MyPip?', PIPE, false, true],
    ['arn:sluice:codepipeline:local:123456789012:MyPip?', `${PIPE}e`, false, false],
    ['arn:sluice:codepipeline:local:123456789012:?', PIPE, false, false], // `?` is exactly one
    ['arn:*:codepipeline:*:*:*/Prod', `${PIPE}/Prod`, false, true],
    ['arn:*:codepipeline:*:*:*/Prod', `${PIPE}/Prod/Approve`, false, false],
    ['*/Prod/*', `${PIPE}/Prod/Approve`, false, true],
    ['a*b*c', 'abc', false, true],
    ['a*b*c', 'aXbYbZc', false, true],
    ['a*b*c', 'acb', false, false],
    ['**', 'anything', false, true],
    ['*a', 'bbbba', false, true],
    ['*a', 'bbbbab', false, false],
    // ARNs are case-sensitive, action names are not.
    [PIPE.toLowerCase(), PIPE, false, false],
    ['codepipeline:getpipeline', 'CodePipeline:GetPipeline', true, true],
    ['CODEPIPELINE:Get*', 'codepipeline:getpipelinestate', true, true],
    ['codepipeline:Get*', 'codepipeline:ListPipelines', true, false],
    ['codepipeline:*Job*', 'codepipeline:PutJobSuccessResult', true, true],
    ['iam:*', 'codepipeline:GetPipeline', true, false],
    // Regular-expression metacharacters are literal.
    ['arn:sluice:codepipeline:local:1:my.pipe', 'arn:sluice:codepipeline:local:1:myXpipe', false, false],
    ['arn:sluice:codepipeline:local:1:my.pipe', 'arn:sluice:codepipeline:local:1:my.pipe', false, true],
    ['arn:sluice:codepipeline:local:1:a+b', 'arn:sluice:codepipeline:local:1:aab', false, false],
    ['arn:sluice:codepipeline:local:1:a+b', 'arn:sluice:codepipeline:local:1:a+b', false, true],
    ['arn:sluice:codepipeline:local:1:(x)', 'arn:sluice:codepipeline:local:1:(x)', false, true],
    ['arn:sluice:codepipeline:local:1:(x)', 'arn:sluice:codepipeline:local:1:x', false, false],
    ['arn:sluice:codepipeline:local:1:[ab]', 'arn:sluice:codepipeline:local:1:a', false, false],
    ['arn:sluice:codepipeline:local:1:^a$|b\\', 'arn:sluice:codepipeline:local:1:^a$|b\\', false, true],
    ['arn:sluice:codepipeline:local:1:a{2}', 'arn:sluice:codepipeline:local:1:aa', false, false],
    ['arn:sluice:codepipeline:local:1:x.*', 'arn:sluice:codepipeline:local:1:x.yz', false, true],
    ['arn:sluice:codepipeline:local:1:x.*', 'arn:sluice:codepipeline:local:1:xyz', false, false],
  ];

  it.each(rows)('%s ~ %s (case-insensitive: %s) → %s', (pattern, value, caseInsensitive, expected) => {
    expect(iamWildcardMatch(pattern, value, { caseInsensitive })).toBe(expected);
  });

  it('defaults to case-sensitive matching', () => {
    expect(iamWildcardMatch('ARN:*', 'arn:x')).toBe(false);
  });

  it('stays fast on patterns that make backtracking regular expressions explode', () => {
    const pattern = `${'*a'.repeat(20)}*b`;
    const value = 'a'.repeat(3000);
    const started = performance.now();
    expect(iamWildcardMatch(pattern, value)).toBe(false);
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('policy variables', () => {
  const context = {
    'aws:username': 'alice',
    'aws:principalaccount': '123456789012',
    'aws:tagkeys': ['a', 'b'],
  };

  it('substitutes variables case-insensitively from the request context', () => {
    const template = parsePatternTemplate(
      'arn:sluice:iam::${aws:PrincipalAccount}:user/${AWS:UserName}',
      true,
    );
    expect(template.hasVariables).toBe(true);
    expect(renderTemplate(template, context)).toBe('arn:sluice:iam::123456789012:user/alice');
  });

  it('matches a substituted value literally, so a value cannot widen the pattern', () => {
    const template = parsePatternTemplate('arn:sluice:iam::1:user/${aws:username}', true);
    const pattern = resolvePatternTemplate(template, { 'aws:username': 'a*' }, { caseInsensitive: false });
    expect(pattern && matchesCompiled(pattern, 'arn:sluice:iam::1:user/a*')).toBe(true);
    expect(pattern && matchesCompiled(pattern, 'arn:sluice:iam::1:user/abc')).toBe(false);
  });

  it('keeps wildcards of the policy text around variables', () => {
    const template = parsePatternTemplate('arn:sluice:codepipeline:*:*:${aws:username}-*', true);
    const pattern = resolvePatternTemplate(template, context, { caseInsensitive: false });
    expect(pattern && matchesCompiled(pattern, 'arn:sluice:codepipeline:local:1:alice-pipe')).toBe(true);
    expect(pattern && matchesCompiled(pattern, 'arn:sluice:codepipeline:local:1:bob-pipe')).toBe(false);
  });

  it('reads ${*}, ${?} and ${$} as literal characters', () => {
    const template = parsePatternTemplate('a${*}b${?}c${$}d', true);
    expect(template.hasVariables).toBe(false);
    expect(renderTemplate(template, {})).toBe('a*b?c$d');
    const pattern = resolvePatternTemplate(template, {}, { caseInsensitive: false });
    expect(pattern && matchesCompiled(pattern, 'a*b?c$d')).toBe(true);
    expect(pattern && matchesCompiled(pattern, 'aXbYc$d')).toBe(false);
  });

  it('yields no pattern when a variable is missing or multi-valued, unless it has a default', () => {
    expect(renderTemplate(parsePatternTemplate('x/${aws:userid}', true), context)).toBeUndefined();
    expect(renderTemplate(parsePatternTemplate('x/${aws:TagKeys}', true), context)).toBeUndefined();
    expect(renderTemplate(parsePatternTemplate("x/${aws:userid, 'nobody'}", true), context)).toBe('x/nobody');
    expect(
      resolvePatternTemplate(parsePatternTemplate('x/${aws:userid}', true), context, {
        caseInsensitive: false,
      }),
    ).toBeUndefined();
  });

  it('leaves ${…} as plain text when variables are off (Version 2008-10-17)', () => {
    const template = parsePatternTemplate('user/${aws:username}', false);
    expect(template.hasVariables).toBe(false);
    expect(renderTemplate(template, context)).toBe('user/${aws:username}');
  });
});

describe('LruCache', () => {
  it('evicts the least recently used entry at capacity', () => {
    const cache = new LruCache<string, number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1); // a is now the most recent
    cache.set('c', 3);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
    expect(cache.size).toBe(2);
  });

  it('computes on a miss only', () => {
    const cache = new LruCache<string, number>(10);
    let calls = 0;
    const compute = () => ++calls;
    expect(cache.getOrCompute('k', compute)).toBe(1);
    expect(cache.getOrCompute('k', compute)).toBe(1);
    expect(calls).toBe(1);
  });

  it('refuses a non-positive capacity', () => {
    expect(() => new LruCache(0)).toThrow(RangeError);
  });
});
