import * as http from 'http';

/**
 * GET /health (the process is up) and GET /ready (it has what it needs to serve), for
 * orchestrators that probe over HTTP.
 */
export function startHttpHealth(host: string, port: number, ready: () => boolean): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || (path !== '/health' && path !== '/ready')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    const ok = path === '/health' || ready();
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'UP' : 'NOT_READY' }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
