// The Helm chart (helm/edgewave), offline: `helm lint` and `helm template` over the three values
// files in helm/edgewave/ci/ (minimal: external Kafka; production: Strimzi, KEDA, ServiceMonitor,
// ExternalSecret, TLS ingress; embedded-broker: the chart's Mosquitto), every rendered object
// validated against its schema, and the rules of the chart asserted on what it renders:
// - no container runs as root, or without limits or probes;
// - every topic of DESIGN.md exists and the processor's state topic is compacted;
// - the NetworkPolicies allow exactly the flows of the design;
// - values.schema.json refuses bad values, naming them.
// Also the Dockerfile, linted with dockerfile-utils and checked for a non-root, multi-stage build.
// helm comes from scripts/install-helm.sh (go install, cached); the Strimzi CRD schemas are read
// from ../shared/crds/strimzi/ (data kept outside the repository).

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const chart = join(root, 'helm/edgewave');
const cache = process.env.EW_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'edgewave');
const helm = process.env.EW_HELM ?? join(cache, 'bin/helm');
const kubeStrict = join(cache, 'bin/kube-strict');
const crds = join(root, '../shared/crds/strimzi');

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: any; data?: Record<string, string> };

/** The Kubernetes version to render for (the oldest the chart supports is 1.27). */
const KUBE = ['--kube-version', '1.31.0'];

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  if (!existsSync(helm)) throw new Error(`helm is not at ${helm}: \`npm run servers:install\` (scripts/install-helm.sh) builds it, or set EW_HELM`);
  const r = spawnSync(helm, args, { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** helm template's output for a values file, as text. */
function renderText(valuesFile: string | null, ...set: string[]): string {
  const r = run(['template', 'ew', chart, '--namespace', 'edgewave', ...KUBE, ...(valuesFile ? ['-f', join(chart, 'ci', valuesFile)] : []), ...set.flatMap((s) => ['--set', s])]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

function render(valuesFile: string | null, ...set: string[]): K8sObject[] {
  return parseAllDocuments(renderText(valuesFile, ...set)).map((d) => d.toJS() as K8sObject).filter((o) => o);
}

/** kube-strict's verdict on each document: client-go's types, unknown fields refused. */
function strict(text: string): { kind: string; name: string; status: 'ok' | 'invalid' | 'unknown-kind'; error?: string }[] {
  if (!existsSync(kubeStrict)) throw new Error(`kube-strict is not at ${kubeStrict}: \`npm run servers:install\` (scripts/install-helm.sh) builds it`);
  const r = spawnSync(kubeStrict, [], { input: text, encoding: 'utf8', timeout: 30_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l));
}

/** The custom resources the chart may render; every other kind must be one client-go knows. */
const CUSTOM_KINDS = new Set(['Kafka', 'KafkaNodePool', 'KafkaTopic', 'ScaledObject', 'ServiceMonitor', 'ExternalSecret']);

const VALUES = ['minimal-values.yaml', 'production-values.yaml', 'embedded-broker-values.yaml'] as const;
const rendered = new Map<string, K8sObject[]>();
const objects = (v: (typeof VALUES)[number]) => {
  if (!rendered.has(v)) rendered.set(v, render(v));
  return rendered.get(v)!;
};

// Validators: core kinds from kubernetes-models, the operators' kinds from @kubernetes-models/*,
// Strimzi from its CRDs.
const MODELS: Record<string, string> = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
  'autoscaling/v2': 'kubernetes-models/autoscaling/v2',
  'keda.sh/v1alpha1': '@kubernetes-models/keda/keda.sh/v1alpha1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
  // external-secrets.io/v1 has the v1beta1 schema for every field the chart sets; the package has v1beta1.
  'external-secrets.io/v1': '@kubernetes-models/external-secrets/external-secrets.io/v1beta1',
  'external-secrets.io/v1beta1': '@kubernetes-models/external-secrets/external-secrets.io/v1beta1',
};
const ajv = new Ajv({ strict: false, allErrors: true });
const strimzi = new Map<string, ReturnType<Ajv['compile']>>();
for (const f of ['040-Crd-kafka.yaml', '043-Crd-kafkatopic.yaml', '045-Crd-kafkanodepool.yaml']) {
  const path = join(crds, f);
  if (!existsSync(path)) continue;
  const crd = parse(readFileSync(path, 'utf8'));
  const v1 = crd.spec.versions.find((v: { name: string }) => v.name === 'v1');
  strimzi.set(crd.spec.names.kind, ajv.compile(v1.schema.openAPIV3Schema));
}

async function validate(o: K8sObject): Promise<void> {
  const where = `${o.kind} ${o.metadata.name}`;
  if (o.apiVersion === 'kafka.strimzi.io/v1') {
    const check = strimzi.get(o.kind);
    if (!check) throw new Error(`${where}: no Strimzi CRD schema in ${crds}`);
    expect(check(o), `${where}: ${ajv.errorsText(check.errors)}`).toBe(true);
    return;
  }
  const module = MODELS[o.apiVersion];
  if (!module) throw new Error(`${where}: no validator for ${o.apiVersion}`);
  const Model = ((await import(module)) as Record<string, new (x: unknown) => { validate(): void }>)[o.kind];
  if (!Model) throw new Error(`${where}: ${module} has no ${o.kind}`);
  const x = structuredClone(o) as K8sObject;
  // The models validate v1beta1; the object itself says v1.
  if (o.apiVersion === 'external-secrets.io/v1') x.apiVersion = 'external-secrets.io/v1beta1';
  expect(() => new Model(x).validate(), where).not.toThrow();
}

const containersOf = (o: K8sObject): { pod: any; containers: any[] } | null => {
  const pod = o.spec?.template?.spec;
  return pod ? { pod, containers: [...(pod.initContainers ?? []), ...pod.containers] } : null;
};

/** A NetworkPolicy as `peer:port` strings, e.g. `monitoring:9465`, `dns:53/UDP`, `any:9092`. */
function flows(np: K8sObject): { ingress: string[]; egress: string[] } {
  const peer = (p: any): string => {
    if (p.ipBlock) return `cidr:${p.ipBlock.cidr}`;
    const ns = p.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'];
    if (p.podSelector?.matchLabels?.['k8s-app'] === 'kube-dns') return 'dns';
    if (ns === 'ingress-nginx') return 'ingress-controller';
    if (ns === 'monitoring') return 'monitoring';
    if (p.podSelector?.matchLabels?.['strimzi.io/kind'] === 'Kafka') return 'kafka';
    const component = p.podSelector?.matchLabels?.['app.kubernetes.io/component'];
    if (component) return `pod:${component}`;
    return `unknown:${JSON.stringify(p)}`;
  };
  const side = (rules: any[] | undefined, key: 'from' | 'to') =>
    (rules ?? [])
      .flatMap((r) => {
        const peers = r[key] ? r[key].map(peer) : ['any'];
        return peers.flatMap((pe: string) => (r.ports ?? [{}]).map((pt: any) => `${pe}:${pt.port ?? '*'}${pt.protocol === 'UDP' ? '/UDP' : ''}`));
      })
      .sort();
  return { ingress: side(np.spec.ingress, 'from'), egress: side(np.spec.egress, 'to') };
}

const DNS = ['dns:53', 'dns:53/UDP'];

describe('helm/edgewave', () => {
  it.each(VALUES)('helm lint passes with %s', (v) => {
    const r = run(['lint', chart, '--strict', ...KUBE, '-f', join(chart, 'ci', v)]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it.each(VALUES)('every object rendered with %s validates against its schema', async (v) => {
    const list = objects(v);
    expect(list.length).toBeGreaterThan(10);
    for (const o of list) await validate(o);
    // Core kinds once more, strictly: a misspelt field is an error, not something ignored.
    const verdicts = strict(renderText(v));
    expect(verdicts.length).toBe(list.length);
    for (const x of verdicts) {
      if (CUSTOM_KINDS.has(x.kind)) expect(x.status, `${x.kind} ${x.name}`).toBe('unknown-kind');
      else expect(x, `${x.kind} ${x.name}`).toMatchObject({ status: 'ok' });
    }
  }, 60_000);

  it('the strict check refuses a misspelt field', () => {
    const text = renderText('minimal-values.yaml').replace('readinessProbe:', 'readinesProbe:');
    const bad = strict(text).filter((x) => x.status === 'invalid');
    expect(bad.length).toBe(1);
    expect(bad[0]!.error).toMatch(/unknown field "spec\.template\.spec\.containers\[0\]\.readinesProbe"/);
  });

  it.each(VALUES)('with %s: no container runs as root or without limits and probes', (v) => {
    const workloads = objects(v).filter((o) => containersOf(o));
    expect(workloads.map((o) => o.metadata.name)).toEqual(expect.arrayContaining(['ew-edgewave-bridge', 'ew-edgewave-processor', 'ew-edgewave-api']));
    for (const o of workloads) {
      const { pod, containers } = containersOf(o)!;
      expect(pod.securityContext?.runAsNonRoot, o.metadata.name).toBe(true);
      expect(pod.securityContext?.runAsUser, o.metadata.name).toBeGreaterThan(0);
      expect(pod.automountServiceAccountToken, o.metadata.name).toBe(false);
      for (const c of containers) {
        const where = `${o.metadata.name}/${c.name}`;
        expect(c.securityContext, where).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
        expect(c.securityContext.privileged ?? false, where).toBe(false);
        expect(c.securityContext.runAsUser ?? pod.securityContext.runAsUser, where).not.toBe(0);
        expect(c.resources?.limits?.cpu, where).toBeDefined();
        expect(c.resources?.limits?.memory, where).toBeDefined();
        expect(c.resources?.requests?.memory, where).toBeDefined();
        expect(c.livenessProbe, where).toBeDefined();
        expect(c.readinessProbe, where).toBeDefined();
      }
    }
    // Each component has a disruption budget.
    const pdbs = objects(v).filter((o) => o.kind === 'PodDisruptionBudget').map((o) => o.spec.selector.matchLabels['app.kubernetes.io/component']);
    expect(pdbs).toEqual(expect.arrayContaining(['bridge', 'processor', 'api']));
  });

  it('production: a Strimzi KRaft cluster and a KafkaTopic for every topic of the design, the processor state compacted; KEDA, ServiceMonitors, ExternalSecret, TLS by cert-manager', () => {
    const list = objects('production-values.yaml');
    const kafka = list.find((o) => o.kind === 'Kafka')!;
    expect(kafka.metadata.name).toBe('ew-edgewave-kafka');
    const pool = list.find((o) => o.kind === 'KafkaNodePool')!;
    expect(pool.spec.roles).toEqual(['controller', 'broker']);
    expect(pool.metadata.labels!['strimzi.io/cluster']).toBe('ew-edgewave-kafka');
    const topics = list.filter((o) => o.kind === 'KafkaTopic');
    // DESIGN.md, "Topics": every Kafka topic.
    const design = [...readFileSync(join(root, '../shared/DESIGN.md'), 'utf8').matchAll(/`(edgewave\.[a-z-]+)`/g)].map((m) => m[1]!);
    expect(new Set(design)).toEqual(new Set(['edgewave.raw', 'edgewave.features', 'edgewave.status', 'edgewave.inferences', 'edgewave.sessions', 'edgewave.deadletter', 'edgewave.processor-state']));
    expect(topics.map((t) => t.spec.topicName).sort()).toEqual([...new Set(design)].sort());
    for (const t of topics) {
      expect(t.metadata.labels!['strimzi.io/cluster']).toBe('ew-edgewave-kafka');
      expect(t.spec.partitions).toBe(24);
      expect(t.spec.config['cleanup.policy']).toBe(t.spec.topicName === 'edgewave.processor-state' ? 'compact' : 'delete');
    }
    // The components reach that cluster.
    const config = list.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'ew-edgewave-config')!;
    for (const c of ['bridge', 'processor', 'api']) expect(parse(config.data![`${c}.yaml`]!).kafka.brokers).toEqual(['ew-edgewave-kafka-kafka-bootstrap:9092']);
    expect(parse(config.data!['processor.yaml']!).model.path).toBe('s3://acme-edgewave-models/activity-gru.onnx');

    const scaled = list.find((o) => o.kind === 'ScaledObject')!;
    expect(scaled.spec.scaleTargetRef.name).toBe('ew-edgewave-processor');
    expect(scaled.spec.triggers.map((t: any) => t.metadata.topic)).toEqual(['edgewave.raw', 'edgewave.features']);
    expect(scaled.spec.triggers.every((t: any) => t.type === 'kafka' && t.metadata.consumerGroup === 'edgewave-processor')).toBe(true);
    // KEDA owns the processor's replica count.
    expect(list.find((o) => o.kind === 'Deployment' && o.metadata.name === 'ew-edgewave-processor')!.spec.replicas).toBeUndefined();
    expect(list.filter((o) => o.kind === 'ServiceMonitor').map((o) => o.metadata.name).sort()).toEqual(['ew-edgewave-api', 'ew-edgewave-bridge', 'ew-edgewave-processor']);
    const es = list.find((o) => o.kind === 'ExternalSecret')!;
    expect(es.spec.target.name).toBe('edgewave-prod-credentials');
    expect(es.spec.data.map((d: any) => d.secretKey).sort()).toEqual(['mongodb-url', 'mqtt-password']);
    const ingress = list.find((o) => o.kind === 'Ingress')!;
    expect(ingress.metadata.annotations!['cert-manager.io/cluster-issuer']).toBe('letsencrypt-prod');
    expect(ingress.spec.tls).toEqual([{ hosts: ['edgewave.example.com'], secretName: 'edgewave-example-com-tls' }]);
    expect(list.some((o) => o.kind === 'HorizontalPodAutoscaler' && o.spec.scaleTargetRef.name === 'ew-edgewave-api')).toBe(true);
  });

  it('the NetworkPolicies allow exactly the flows of the design', () => {
    const policies = (v: (typeof VALUES)[number]) => Object.fromEntries(objects(v).filter((o) => o.kind === 'NetworkPolicy').map((o) => [o.metadata.name.replace('ew-edgewave-', ''), flows(o)]));
    // External Kafka, broker, MongoDB and S3 at any address on their ports.
    expect(policies('minimal-values.yaml')).toEqual({
      bridge: { ingress: ['monitoring:9465'], egress: [...DNS, 'any:8883', 'any:9092'].sort() },
      processor: { ingress: ['monitoring:9466'], egress: [...DNS, 'any:27017', 'any:443', 'any:9092'].sort() },
      api: { ingress: ['ingress-controller:8080', 'monitoring:8080'], egress: [...DNS, 'any:27017', 'any:9092'].sort() },
    });
    // Strimzi's Kafka by its pods; the rest narrowed to the listed CIDR.
    expect(policies('production-values.yaml')).toEqual({
      bridge: { ingress: ['monitoring:9465'], egress: [...DNS, 'cidr:10.20.0.0/16:8883', 'kafka:9092'].sort() },
      processor: { ingress: ['monitoring:9466'], egress: [...DNS, 'cidr:10.20.0.0/16:27017', 'cidr:10.20.0.0/16:443', 'kafka:9092'].sort() },
      api: { ingress: ['ingress-controller:8080', 'monitoring:8080'], egress: [...DNS, 'cidr:10.20.0.0/16:27017', 'kafka:9092'].sort() },
    });
    // The chart's broker: gateways from their networks and the bridge in; nothing out.
    const embedded = policies('embedded-broker-values.yaml');
    expect(embedded.mosquitto).toEqual({ ingress: ['cidr:192.168.10.0/24:1883', 'cidr:192.168.11.0/24:1883', 'pod:bridge:1883'], egress: [] });
    expect(embedded.bridge!.egress).toEqual([...DNS, 'any:9092', 'pod:mosquitto:1883'].sort());
    // Every pod of the chart is under a policy that lists both directions.
    for (const v of VALUES) {
      const list = objects(v);
      const covered = new Set(list.filter((o) => o.kind === 'NetworkPolicy').flatMap((o) => (o.spec.policyTypes.length === 2 ? [o.spec.podSelector.matchLabels['app.kubernetes.io/component']] : [])));
      for (const w of list.filter((o) => containersOf(o))) expect(covered.has(w.spec.template.metadata.labels['app.kubernetes.io/component']), `${v}: ${w.metadata.name}`).toBe(true);
    }
  });

  it('embedded broker: Mosquitto with passwords, an ACL and a volume; the bridge is pointed at it', () => {
    const list = objects('embedded-broker-values.yaml');
    const cm = list.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'ew-edgewave-mosquitto')!;
    expect(cm.data!['mosquitto.conf']).toMatch(/allow_anonymous false/);
    expect(cm.data!['mosquitto.conf']).toMatch(/password_file \/mosquitto\/secret\/passwords/);
    // What it queues for the bridge while Kafka is away is bounded in messages and in bytes (under the
    // pod's memory limit), and both can be set.
    expect(cm.data!['mosquitto.conf']).toMatch(/\nmax_queued_messages 100000\nmax_queued_bytes 268435456\n/);
    const sized = run(['template', 'ew', chart, ...KUBE, '-f', join(chart, 'ci', 'embedded-broker-values.yaml'), '--set', 'mqtt.embedded.queue.maxMessages=2000000', '--set', 'mqtt.embedded.queue.maxBytes=2147483648']);
    expect(sized.status, sized.stderr).toBe(0);
    expect(sized.stdout).toMatch(/max_queued_messages 2000000\n\s*max_queued_bytes 2147483648\n/);
    expect(cm.data!.acl).toMatch(/user edgewave-bridge\ntopic read edgewave\/#/);
    expect(cm.data!.acl).toMatch(/pattern write edgewave\/%u\/#/);
    const dep = list.find((o) => o.kind === 'Deployment' && o.metadata.name === 'ew-edgewave-mosquitto')!;
    expect(dep.spec.template.spec.volumes.find((x: any) => x.name === 'passwords').secret.secretName).toBe('plant-mqtt-passwords');
    expect(list.some((o) => o.kind === 'PersistentVolumeClaim')).toBe(true);
    const config = list.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'ew-edgewave-config')!;
    expect(parse(config.data!['bridge.yaml']!).mqtt).toMatchObject({ url: 'mqtt://ew-edgewave-mosquitto:1883', shareGroup: null });
    // A plain subscription takes every message: two bridges would each take all of them.
    const two = run(['template', 'ew', chart, ...KUBE, '-f', join(chart, 'ci', 'embedded-broker-values.yaml'), '--set', 'bridge.replicas=2']);
    expect(two.status).not.toBe(0);
    expect(two.stderr).toContain('mqtt.shareGroup is empty (a plain subscription), so bridge.replicas must be 1');
    expect(list.find((o) => o.kind === 'Ingress')!.metadata.annotations!['cert-manager.io/issuer']).toBe('plant-ca');
  });

  it('the components\' configs are valid for edgewave itself, and secrets stay out of them', async () => {
    const { parseBridgeConfig } = await import('../../cloud/bridge/config.js');
    const { parseProcessorConfig } = await import('../../cloud/processor/config.js');
    const { parseApiCommandConfig } = await import('../../cloud/api/config.js');
    for (const v of VALUES) {
      const config = objects(v).find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'ew-edgewave-config')!;
      const text = Object.values(config.data!).join('\n');
      expect(text).not.toMatch(/password:|mongodb:\/\/|secretAccessKey/);
      // What the pods add from the Secret, as EW_* variables.
      parseBridgeConfig({ ...parse(config.data!['bridge.yaml']!), mqtt: { ...parse(config.data!['bridge.yaml']!).mqtt, password: 'x' } });
      const p = parse(config.data!['processor.yaml']!);
      parseProcessorConfig({ ...p, mongodb: { ...p.mongodb, url: 'mongodb://m:27017' } });
      const a = parse(config.data!['api.yaml']!);
      parseApiCommandConfig({ ...a, mongodb: { ...a.mongodb, url: 'mongodb://m:27017' } });
    }
  });

  it('processor.sessions.silentGraceS reaches the processor: 60 by default, another number, or null (silent groups kept open)', async () => {
    const { parseProcessorConfig } = await import('../../cloud/processor/config.js');
    const grace = (...set: string[]) => {
      const config = render(null, ...set).find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'ew-edgewave-config')!;
      const p = parse(config.data!['processor.yaml']!);
      return parseProcessorConfig({ ...p, mongodb: { ...p.mongodb, url: 'mongodb://m:27017' } }).sessions.silentGraceS;
    };
    expect(grace()).toBe(60);
    expect(grace('processor.sessions.silentGraceS=300')).toBe(300);
    expect(grace('processor.sessions.silentGraceS=null')).toBeNull();
  });

  it('values.schema.json refuses a bad value, naming it', () => {
    const bad = (set: string, ...expected: RegExp[]) => {
      const r = run(['template', 'ew', chart, ...KUBE, '--set', set]);
      expect(r.status, set).not.toBe(0);
      for (const e of expected) expect(r.stderr, set).toMatch(e);
    };
    bad('kafka.mode=kinesis', /values don't meet the specifications of the schema/, /at '\/kafka\/mode': value must be one of 'external', 'strimzi'/);
    bad('securityContext.readOnlyRootFilesystem=false', /at '\/securityContext\/readOnlyRootFilesystem': value must be true/);
    bad('api.replicas=0', /at '\/api\/replicas': minimum: got 0, want 1/);
    bad('kafka.bootstrapServers[0]=no-port', /at '\/kafka\/bootstrapServers\/0': 'no-port' does not match pattern/);
    bad('s3.archiveUrl=/tmp/archive', /at '\/s3\/archiveUrl': '\/tmp\/archive' does not match pattern/);
    bad('ingress.hots=typo', /at '\/ingress': additional properties 'hots' not allowed/);
    bad('bridge.resources.limits=null', /at '\/bridge\/resources': missing property 'limits'/);
    bad('bridge.nodeArgs[0]=rm -rf', /at '\/bridge\/nodeArgs\/0': 'rm -rf' does not match pattern/);
  });

  it("each component runs node with its nodeArgs before the image's script: the bridge's and the processor's old-generation floors (and the processor's ceiling) by default", () => {
    const commands = (list: K8sObject[]) =>
      Object.fromEntries(list.filter((o) => containersOf(o) && o.metadata.labels?.['app.kubernetes.io/component'] !== 'mosquitto').map((o) => [o.metadata.labels!['app.kubernetes.io/component'], containersOf(o)!.containers[0]!.command]));
    expect(commands(objects('minimal-values.yaml'))).toEqual({
      bridge: ['node', '--initial-old-space-size=128', '/app/bin/edgewave.js'],
      processor: ['node', '--initial-old-space-size=96', '--max-old-space-size=512', '/app/bin/edgewave.js'],
      api: ['node', '/app/bin/edgewave.js'],
    });
    // The image runs that script (its entrypoint is the same command without options).
    expect(readFileSync(join(root, 'Dockerfile'), 'utf8')).toContain('ENTRYPOINT ["node", "/app/bin/edgewave.js"]');
    const set = commands(render('minimal-values.yaml', 'processor.nodeArgs={--max-old-space-size=400,--heap-growing-percent=50}', 'bridge.nodeArgs=null'));
    expect(set.processor).toEqual(['node', '--max-old-space-size=400', '--heap-growing-percent=50', '/app/bin/edgewave.js']);
    expect(set.bridge).toEqual(['node', '/app/bin/edgewave.js']);
  });

  it('NOTES.txt says what was installed and how to reach it', () => {
    // `helm install --dry-run` needs a cluster; NOTES.txt is the "edgewave.notes" template, rendered
    // here through a copy of the chart with one more template that prints it.
    const copy = mkdtempSync(join(tmpdir(), 'edgewave-chart-'));
    try {
      cpSync(chart, copy, { recursive: true });
      writeFileSync(join(copy, 'templates/zz-notes.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: notes }\ndata:\n  notes: {{ include "edgewave.notes" . | toJson }}\n');
      expect(readFileSync(join(chart, 'templates/NOTES.txt'), 'utf8').trim()).toBe('{{ include "edgewave.notes" . }}');
      const notesOf = (v: string) => {
        const r = run(['template', 'ew', copy, ...KUBE, '--namespace', 'edgewave', '-f', join(chart, 'ci', v), '--show-only', 'templates/zz-notes.yaml']);
        expect(r.status, r.stderr).toBe(0);
        return (parse(r.stdout) as { data: { notes: string } }).data.notes;
      };
      const prod = notesOf('production-values.yaml');
      expect(prod).toMatch(/processor\s+2-24 \(KEDA, on consumer lag\) x Deployment ew-edgewave-processor/);
      expect(prod).toContain('Strimzi cluster ew-edgewave-kafka (KRaft, 3 nodes)');
      expect(prod).toContain('https://edgewave.example.com/');
      expect(prod).toContain('made by an ExternalSecret from ClusterSecretStore aws-secrets-manager');
      const minimal = notesOf('minimal-values.yaml');
      expect(minimal).toContain('kubectl -n edgewave port-forward svc/ew-edgewave-api 8080:80');
      expect(minimal).toContain('external: kafka-0.kafka.data.svc:9092, kafka-1.kafka.data.svc:9092');
      expect(notesOf('embedded-broker-values.yaml')).toContain('Mosquitto  ew-edgewave-mosquitto:1883');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
  it('lints clean, builds in two stages, runs as an unprivileged user with edgewave as its entrypoint', () => {
    expect(lintDockerfile(text).map((p) => `${p.range.start.line + 1}: ${p.message}`)).toEqual([]);
    const from = [...text.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!);
    expect(from.length).toBe(2);
    expect(from.every((f) => /:[0-9][^:]*$/.test(f) && !f.endsWith(':latest'))).toBe(true);
    const final = text.slice(text.lastIndexOf('\nFROM '));
    expect(final).toMatch(/^USER 10001:10001$/m);
    expect(final).toMatch(/^ENTRYPOINT \["node", "\/app\/bin\/edgewave\.js"\]$/m);
    expect(final).not.toMatch(/npm ci|npm install/);
    // The runtime has no dev dependencies and carries the model and the web app (dist/).
    expect(text).toMatch(/npm prune --omit=dev/);
    expect(final).toContain('activity-gru.onnx');
    // The chart runs the same user.
    expect(parse(readFileSync(join(chart, 'values.yaml'), 'utf8')).podSecurityContext.runAsUser).toBe(10001);
  });
});
