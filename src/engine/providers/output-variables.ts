import { ActionFailure } from './provider';

/** DESIGN §10: the output variables of one action, names and values together. */
export const maxOutputVariablesBytes = 122_880;

/** CodePipeline's output variable key pattern (a later `#{Namespace.Key}` must match it). */
export const outputVariableNamePattern = /^[A-Za-z0-9@\-_]{1,128}$/;

export function outputVariablesBytes(variables: Record<string, string>): number {
  let total = 0;
  for (const [name, value] of Object.entries(variables)) {
    total += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(value, 'utf8');
  }
  return total;
}

/** Fails the action when its output variables are over the limit, naming the limit. */
export function checkOutputVariables(variables: Record<string, string>): Record<string, string> {
  const bytes = outputVariablesBytes(variables);
  if (bytes > maxOutputVariablesBytes) {
    throw new ActionFailure(
      'JOB_FAILED',
      `Output variables total ${bytes} bytes, over the limit of ${maxOutputVariablesBytes} bytes (outputVariables)`,
    );
  }
  return variables;
}

/** At most `maxBytes` of UTF-8, cut at a character boundary. */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end).toString('utf8');
}
