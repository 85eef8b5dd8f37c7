// Node options a benchmark gives a component's process: what the Helm chart gives it
// (helm/edgewave/values.yaml, <component>.nodeArgs), so that what is measured is what deploys, or
// an environment variable's in their place (set and empty: none).

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

const values = parseYaml(readFileSync(new URL('../helm/edgewave/values.yaml', import.meta.url), 'utf8')) as Record<string, { nodeArgs?: string[] } | undefined>;

export function nodeArgsFor(component: 'bridge' | 'processor' | 'api', override: string | undefined): string[] {
  return override !== undefined ? override.split(/\s+/).filter(Boolean) : (values[component]?.nodeArgs ?? []);
}
