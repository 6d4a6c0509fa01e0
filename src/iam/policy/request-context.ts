/**
 * What a request brings to evaluation besides principal, action and resource: the values of
 * condition keys and policy variables. Keys are lower-cased (IAM compares them
 * case-insensitively), e.g. `aws:sourceip`, `aws:resourcetag/env`, `aws:tagkeys`,
 * `aws:currenttime` (ISO 8601), `aws:principalarn`, `aws:username`. Multi-valued keys such as
 * `aws:tagkeys` hold arrays; an absent key is simply missing (or undefined).
 */
export type RequestContext = Record<string, string | string[] | undefined>;
