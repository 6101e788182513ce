import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP forwarder a test can cut and restore, to play a broker or database outage without
 * touching the shared services. `stop()` refuses new connections and kills open ones;
 * `start()` resumes on the same port. `stall()` plays a peer that stops answering: connections
 * stay open (and new ones are accepted) but nothing is forwarded until `resume()`.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private stalled = false;
  private readonly held: Array<() => void> = [];
  private onAnswer: (() => void) | undefined;
  port = 0;

  /**
   * The next bytes the target sends back are never delivered: `hook` runs first (a test kills
   * the target there, with its answer written but not received), then the connection is cut.
   * Once; the proxy forwards as usual afterwards.
   */
  dropNextAnswer(hook: () => void): void {
    this.onAnswer = hook;
  }

  /** Stops forwarding in both directions without closing anything. */
  stall(): void {
    this.stalled = true;
  }

  /** Forwards again, what was held first. */
  resume(): void {
    this.stalled = false;
    for (const release of this.held.splice(0)) release();
  }

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    const server = createServer(client => {
      const upstream = connect(this.targetPort, this.targetHost);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      const forward = (from: Socket, to: Socket) =>
        from.on('data', (chunk: Buffer) => {
          if (to.destroyed) return;
          if (this.stalled) this.held.push(() => to.write(chunk));
          else to.write(chunk);
        });
      forward(client, upstream);
      upstream.prependListener('data', () => {
        const hook = this.onAnswer;
        if (!hook) return;
        this.onAnswer = undefined;
        upstream.pause();
        hook();
        client.destroy();
        upstream.destroy();
      });
      forward(upstream, client);
      client.on('end', () => upstream.end());
      upstream.on('end', () => client.end());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address && typeof address === 'object') this.port = address.port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>(resolve => server.close(() => resolve()));
  }
}

/** A started `TcpProxy` in front of the server of `url` (postgres://, amqp://…), and its URL. */
export async function proxyInFront(url: string): Promise<{ proxy: TcpProxy; url: string }> {
  const target = new URL(url);
  const defaultPort = target.protocol.startsWith('amqp') ? 5672 : 5432;
  const proxy = new TcpProxy(target.hostname, Number(target.port || defaultPort));
  await proxy.start();
  target.host = `127.0.0.1:${proxy.port}`;
  return { proxy, url: target.toString() };
}
