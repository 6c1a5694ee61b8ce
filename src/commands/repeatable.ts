/** Commander's parser for a repeatable option: each use adds its value. */
export function repeatable(value: string, previous?: string[]): string[] {
  return [...(previous ?? []), value];
}
