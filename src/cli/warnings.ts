/**
 * grpc-js gives TLS an IP address as the server name when a client dials one (127.0.0.1 in `all`
 * and ctl); Node's deprecation warning about that (DEP0123) is for grpc-js, not for whoever runs
 * us. Every other warning prints as before.
 */
export function hideGrpcServerNameWarning(): void {
  const printers = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (w: Error & { code?: string }) => w.code === 'DEP0123' || printers.forEach((print) => print(w)));
}
