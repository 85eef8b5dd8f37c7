// Group and transaction coordinators looked up once, not before every request to them.
//
// kafkajs asks a broker which broker coordinates a group or a transactional id (FindCoordinator)
// before every request that goes to a coordinator. A transactional producer's commit is then eight
// round trips instead of four: FindCoordinator before AddPartitionsToTxn, AddOffsetsToTxn,
// TxnOffsetCommit and EndTxn, in turn, for every partition's transaction (the processor commits
// each partition every 100 ms). The Java client keeps the answer until the coordinator refuses a
// request or the connection to it fails; so does this, per client (kafkajs cluster): the answer is
// kept as the coordinator's node id, and dropped when a request to that broker says it is not the
// coordinator (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE) or gets no answer (a connection
// error, a timeout), or when the broker is no longer in the cluster's metadata. The next lookup
// then asks again.
//
// kafkajs has no setting for it. Its Kafka object makes the cluster of each producer, consumer and
// admin through one factory (a property keyed by a symbol); this wraps the clusters it makes.
// kafkajs is pinned in package-lock.json; a version without that factory is refused at start, and
// test/cloud/common/coordinator-cache.int.test.ts counts the lookups.

import type { Kafka } from 'kafkajs';

interface Lookup {
  groupId: string;
  coordinatorType?: number;
}
interface Broker {
  nodeId: number | string;
}
interface Cluster {
  findGroupCoordinator(o: Lookup): Promise<Broker>;
  findBroker(o: { nodeId: number | string }): Promise<Broker>;
}
type ClusterFactory = (...args: unknown[]) => Cluster;

const FACTORY = 'private:Kafka:createCluster';
/** Kafka's answers that the broker is not (or not yet) the coordinator (codes 15 and 16). */
const NOT_COORDINATOR = new Set(['GROUP_COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR_FOR_GROUP']);

/**
 * Whether a failed request says the coordinator moved or cannot be reached: those answers, or an
 * error that is no answer at all (a lost connection, a timeout). Other answers (a transaction
 * still completing, CONCURRENT_TRANSACTIONS, which kafkajs retries) keep the coordinator.
 */
const movedOrGone = (err: unknown): boolean => {
  const type = (err as { type?: unknown } | null)?.type;
  return typeof type !== 'string' || NOT_COORDINATOR.has(type);
};
const installed = new WeakSet<Kafka>();

/** Makes every cluster `kafka` creates from now on keep its coordinators. */
export function cacheCoordinators(kafka: Kafka): Kafka {
  if (installed.has(kafka)) return kafka;
  const k = kafka as unknown as Record<symbol, unknown>;
  const key = Object.getOwnPropertySymbols(k).find((s) => s.description === FACTORY);
  const create = key && (k[key] as ClusterFactory | undefined);
  if (typeof create !== 'function') throw new Error(`kafkajs: this version's Kafka has no cluster factory (${FACTORY}) to keep coordinators with; use the version package-lock.json names`);
  k[key!] = (...args: unknown[]) => keepCoordinators(create(...args));
  installed.add(kafka);
  return kafka;
}

function keepCoordinators(cluster: Cluster): Cluster {
  const find = cluster.findGroupCoordinator.bind(cluster);
  if (typeof cluster.findBroker !== 'function') throw new Error('kafkajs: this version\'s cluster has no findBroker to keep coordinators with');
  /** Per (coordinator type, group or transactional id), the coordinator's node id. */
  const known = new Map<string, number | string>();

  /** The broker, with every request that fails forgetting it as the coordinator of `id`. */
  const watched = (broker: Broker, id: string): Broker =>
    new Proxy(broker, {
      get(target, prop) {
        const v = Reflect.get(target, prop) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          const r = (v as (...a: unknown[]) => unknown).apply(target, args);
          if (r instanceof Promise) {
            return r.catch((err: unknown) => {
              if (movedOrGone(err) && known.get(id) === target.nodeId) known.delete(id);
              throw err;
            });
          }
          return r;
        };
      },
    });

  cluster.findGroupCoordinator = async (o: Lookup) => {
    const id = `${o.coordinatorType ?? 0}:${o.groupId}`;
    const nodeId = known.get(id);
    if (nodeId !== undefined) {
      try {
        return watched(await cluster.findBroker({ nodeId }), id);
      } catch {
        // No longer in the metadata, or not reachable: ask again.
        if (known.get(id) === nodeId) known.delete(id);
      }
    }
    const broker = await find(o);
    known.set(id, broker.nodeId);
    return watched(broker, id);
  };
  return cluster;
}
