// Server-sent events: a stream the route writes events into until it ends or the client
// goes away. A comment every 15 s keeps proxies from closing an idle stream.
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface SseStream {
  send(event: string, data: unknown): void;
  /** Resolves after `ms`, or at once when the client has gone. */
  sleep(ms: number): Promise<void>;
  readonly closed: boolean;
  end(): void;
}

export function openSse(req: FastifyRequest, reply: FastifyReply): SseStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write(': sborka\n\n');
  let closed = false;
  const wakers = new Set<() => void>();
  const close = () => {
    closed = true;
    clearInterval(keepAlive);
    for (const w of wakers) w();
  };
  req.raw.on('close', close);
  res.on('close', close);
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  return {
    send(event, data) {
      if (closed) return;
      const text = typeof data === 'string' ? data : JSON.stringify(data);
      res.write(`event: ${event}\n${text.split('\n').map((l) => `data: ${l}`).join('\n')}\n\n`);
    },
    sleep(ms) {
      if (closed) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(t);
          wakers.delete(done);
          resolve();
        };
        const t = setTimeout(done, ms);
        wakers.add(done);
      });
    },
    get closed() {
      return closed;
    },
    end() {
      if (!closed) res.end();
      close();
    },
  };
}
