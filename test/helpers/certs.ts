import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/**
 * A self-signed X.509 certificate (PEM) for `key`, made by openssl (Debian's package; .ci/run
 * installs it): Node can verify certificates but not make them.
 */
export function selfSignedCertificate(cn: string, key: crypto.KeyObject = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cert-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    fs.writeFileSync(keyFile, key.export({ type: 'pkcs8', format: 'pem' }));
    return execFileSync('openssl', ['req', '-x509', '-new', '-key', keyFile, '-subj', `/CN=${cn}`, '-days', '2'], { encoding: 'utf8' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
