// A kafkajs socket factory for fault tests: a request that `reset` picks (by its Kafka API key) is
// not sent; its connection is reset instead, as a broker going away mid-request would do.

import net from 'node:net';
import type { ISocketFactory } from 'kafkajs';

export const API_KEY = { addPartitionsToTxn: 24, findCoordinator: 10 } as const;

export function resetRequests(reset: (apiKey: number) => boolean): ISocketFactory {
  return ({ host, port, onConnect }) => {
    const socket = net.connect({ host, port }, onConnect);
    const write = socket.write.bind(socket) as (chunk: Buffer, encoding?: BufferEncoding) => boolean;
    socket.write = ((chunk: Buffer, encoding?: BufferEncoding) => {
      // A request: its size (int32), then its API key (int16).
      const apiKey = Buffer.isBuffer(chunk) && chunk.length >= 6 ? chunk.readInt16BE(4) : -1;
      if (apiKey >= 0 && reset(apiKey)) {
        socket.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
        return false;
      }
      return write(chunk, encoding);
    }) as typeof socket.write;
    return socket;
  };
}
