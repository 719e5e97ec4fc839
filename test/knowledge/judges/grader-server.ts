/**
 * A local OpenAI-compatible Chat Completions server for the judge tests (node:http on 127.0.0.1, a free port). By
 * default it grades like a careful grader would: "yes" when the student answer contains the gold answer
 * (case-insensitive), else "no". A test scripts failures per request (status, headers, body, or no answer at all)
 * and reads back every request it received, with arrival times and how many were in flight.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: { model?: string; messages?: { role: string; content: string }[] };
  /** The grading prompt (the one user message). */
  prompt: string;
  /** ms since the server started. */
  at: number;
}

/** What to answer request number `n` (from 0): a scripted response, 'hang' (never answer), or undefined (grade). */
export type Script = (n: number, request: ReceivedRequest) => { status: number; headers?: Record<string, string>; body?: string } | 'hang' | undefined;

export interface GraderServer {
  /** The base URL, ending in /v1. */
  url: string;
  requests: ReceivedRequest[];
  /** The most requests that were in flight at once. */
  maxInFlight: number;
  close(): Promise<void>;
}

/** The reply a careful grader gives: yes when the student answer contains the gold answer. */
export function gradeLikeAGrader(prompt: string): string {
  const gold = /\nGold answer: (.*)\n/.exec(prompt)?.[1] ?? '\u0000';
  const student = /\nStudent answer: (.*)\n/.exec(prompt)?.[1] ?? '';
  return student.toLowerCase().includes(gold.toLowerCase()) ? 'yes' : 'no';
}

export async function startGraderServer(options: { script?: Script; delayMs?: number } = {}): Promise<GraderServer> {
  const started = Date.now();
  const requests: ReceivedRequest[] = [];
  let inFlight = 0;
  const state = { maxInFlight: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
    });
    req.on('end', () => {
      const body = JSON.parse(text || '{}') as ReceivedRequest['body'];
      const request: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        prompt: body.messages?.[0]?.content ?? '',
        at: Date.now() - started,
      };
      const n = requests.push(request) - 1;
      inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, inFlight);
      const scripted = options.script?.(n, request);
      if (scripted === 'hang') return; // the client's timeout ends it; close() drops the socket
      const send = () => {
        inFlight--;
        if (scripted) {
          res.writeHead(scripted.status, { 'content-type': 'application/json', ...scripted.headers });
          res.end(scripted.body ?? JSON.stringify({ error: { message: `scripted ${scripted.status}` } }));
          return;
        }
        const reply = gradeLikeAGrader(request.prompt);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: `chatcmpl-${n}`, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: reply } }] }));
      };
      if (options.delayMs) setTimeout(send, options.delayMs);
      else send();
    });
  });
  // Tracked to end them at close (a hung request's socket too); closeAllConnections() is Node's alone.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    get maxInFlight() {
      return state.maxInFlight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
