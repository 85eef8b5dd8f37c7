// A kafkajs partition assigner that keeps partitions with the same number together: a member that
// gets partition p of one input topic gets partition p of every input topic. edgewave keys the raw
// and the feature topics by group, with the same partition count, so a group's raw frames and its
// edge features land on the same partition number, and one processor holds all of that group's
// state (its sensors, its sessions) for both. Partition numbers are dealt round robin over the
// members sorted by id, so every member computes the same plan.

import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

export const COPARTITIONED_ASSIGNER_NAME = 'EdgewaveCoPartitioned';

export const coPartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: COPARTITIONED_ASSIGNER_NAME,
  version: 0,
  async assign({ members, topics }) {
    const sorted = members.map((m) => m.memberId).sort();
    const partitionsOf = new Map(topics.map((t) => [t, cluster.findTopicPartitionMetadata(t).map((m) => m.partitionId)]));
    const numbers = [...new Set([...partitionsOf.values()].flat())].sort((a, b) => a - b);
    const plan = new Map<string, Record<string, number[]>>(sorted.map((m) => [m, {}]));
    numbers.forEach((p, i) => {
      const member = plan.get(sorted[i % sorted.length]!)!;
      for (const [topic, parts] of partitionsOf) if (parts.includes(p)) (member[topic] ??= []).push(p);
    });
    return sorted.map((memberId) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: plan.get(memberId)!, userData: Buffer.alloc(0) }),
    }));
  },
  protocol({ topics }) {
    return { name: COPARTITIONED_ASSIGNER_NAME, metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) };
  },
});
