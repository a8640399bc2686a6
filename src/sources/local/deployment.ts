import { X509Certificate } from 'crypto';
import * as path from 'path';
import type { ClientCertificate, EndpointSet, EndpointSets } from '../../model/api';
import { ProjectDoc, isRecord } from './document';
import { endpointKey, parseEndpointUrl } from './endpoints';
import { ProjectFiles, fileText } from './files';

/** deployment_environments.yaml: which gateway labels get the API, and on which vhost. */
export function deploymentEnvironments(doc: ProjectDoc): { labels: string[]; vhost?: string } | undefined {
  const data = isRecord(doc.value) ? doc.value.data : undefined;
  if (data === undefined || data === null) return undefined;
  if (!Array.isArray(data)) return doc.fail(['data'], 'expected a list of {deploymentEnvironment, deploymentVhost}');
  const labels: string[] = [];
  let vhost: string | undefined;
  data.forEach((_, i) => {
    const label = doc.text(['data', i, 'deploymentEnvironment'])?.trim();
    if (!label) doc.fail(['data', i], 'missing deploymentEnvironment');
    if (!labels.includes(label)) labels.push(label);
    const v = doc.text(['data', i, 'deploymentVhost'])?.trim();
    // One API object has one vhost; several would need several APIs with one id.
    if (v && vhost && v !== vhost) doc.fail(['data', i, 'deploymentVhost'], `all environments of one project must use one vhost (got "${vhost}" and "${v}")`);
    vhost ||= v || undefined;
  });
  // An empty list deploys nowhere, which is never what a local project means: use the defaults.
  return labels.length ? { labels, vhost } : undefined;
}

/**
 * Endpoint-certificates/endpoint_certificates.yaml: `data: [{alias, endpoint, certificate}]`,
 * the certificate being a PEM file next to it. Returns PEMs keyed by endpointKey().
 */
export function endpointCertificates(project: ProjectFiles, doc: ProjectDoc): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const data = isRecord(doc.value) ? doc.value.data : undefined;
  if (data === undefined || data === null) return out;
  if (!Array.isArray(data)) return doc.fail(['data'], 'expected a list of {alias, endpoint, certificate}');
  const dir = path.posix.dirname(doc.file);
  data.forEach((_, i) => {
    const raw = doc.text(['data', i, 'endpoint']);
    if (!raw) doc.fail(['data', i], 'missing endpoint');
    const url = parseEndpointUrl(raw);
    if (typeof url === 'string') doc.fail(['data', i, 'endpoint'], url);
    const key = endpointKey(url);
    out.set(key, [...(out.get(key) ?? []), certificateFile(project, doc, dir, i)]);
  });
  return out;
}

/**
 * Client-certificates/client_certificates.yaml: `data: [{alias, certificate, tierName}]`, each
 * certificate a PEM file next to it: who may call the API over mutual TLS.
 */
export function clientCertificates(project: ProjectFiles, doc: ProjectDoc): ClientCertificate[] {
  const data = isRecord(doc.value) ? doc.value.data : undefined;
  if (data === undefined || data === null) return [];
  if (!Array.isArray(data)) return doc.fail(['data'], 'expected a list of {alias, certificate, tierName}');
  const dir = path.posix.dirname(doc.file);
  return data.map((_, i) => ({
    alias: doc.text(['data', i, 'alias']) || doc.fail(['data', i], 'missing alias'),
    pem: certificateFile(project, doc, dir, i),
    tier: doc.text(['data', i, 'tierName']) || 'Unlimited',
  }));
}

/** The PEM file `data[i].certificate` names, checked to hold a certificate. */
function certificateFile(project: ProjectFiles, doc: ProjectDoc, dir: string, i: number): string {
  const name = doc.text(['data', i, 'certificate']);
  if (!name) return doc.fail(['data', i], 'missing certificate');
  const file = dir === '.' ? name : `${dir}/${name}`;
  if (!project.files.has(file)) return doc.fail(['data', i, 'certificate'], `certificate file ${file} not found`);
  const pem = fileText(project, file);
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) return doc.fail(['data', i, 'certificate'], `${file} is not a PEM certificate`);
  try {
    new X509Certificate(pem);
  } catch (e) {
    return doc.fail(['data', i, 'certificate'], `${file} does not parse as an X.509 certificate (${(e as Error).message})`);
  }
  return pem.trim() + '\n';
}

/** Adds each set's certificates: a set trusts the certificates of every URL in it. */
export function withCertificates(sets: EndpointSets, certs: Map<string, string[]>): EndpointSets {
  const attach = (set?: EndpointSet): EndpointSet | undefined => {
    if (!set) return set;
    const pems = [...new Set(set.urls.flatMap((u) => certs.get(endpointKey(u)) ?? []))];
    return pems.length ? { ...set, caCertificates: pems } : set;
  };
  const out: EndpointSets = {};
  if (sets.production) out.production = attach(sets.production);
  if (sets.sandbox) out.sandbox = attach(sets.sandbox);
  return out;
}
