// Certificates for the simulators (the twin's roots and HTTPS, the lab's shared root), issued with
// PKI.js over Node's WebCrypto: ECDSA P-256, SHA-256. Node's crypto parses and verifies X.509 but
// cannot issue it; before this the twin encoded DER by hand (it once made invalid certificates)
// and called an openssl binary the package never declared.
import { X509Certificate, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const OID = {
  organization: '2.5.4.10',
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

let engine: pkijs.CryptoEngine | undefined;
function cryptoEngine(): pkijs.CryptoEngine {
  engine ??= new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as pkijs.CryptoEngineParameters['crypto'] });
  return engine;
}

export interface DistinguishedName {
  organization?: string;
  commonName: string;
}

export interface IssuedCertificate {
  pem: string;
  /** PKCS#8 PEM ("BEGIN PRIVATE KEY"), what Node's TLS and Istio's plug-in CA read. */
  keyPem: string;
  privateKey: webcrypto.CryptoKey;
  certificate: X509Certificate;
}

export interface CertificateRequest {
  subject: DistinguishedName;
  /** A CA (keyCertSign, cRLSign) or a TLS server (digitalSignature, serverAuth). */
  ca: boolean;
  validDays: number;
  /** Server names: IP addresses and DNS names. */
  altNames?: readonly string[];
  /** Signed by this CA; self-signed when absent. */
  issuer?: { subject: DistinguishedName; privateKey: webcrypto.CryptoKey };
}

function rdn(n: DistinguishedName): pkijs.RelativeDistinguishedNames {
  const attr = (type: string, value: string) => new pkijs.AttributeTypeAndValue({ type, value: new asn1js.Utf8String({ value }) });
  return new pkijs.RelativeDistinguishedNames({
    typesAndValues: [...(n.organization ? [attr(OID.organization, n.organization)] : []), attr(OID.commonName, n.commonName)],
  });
}

function extension(extnID: string, critical: boolean, value: { toBER(sizeOnly?: boolean): ArrayBuffer }): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: value.toBER(false) });
}

/** KeyUsage bits, first byte only: digitalSignature=0x80, keyEncipherment=0x20, keyCertSign=0x04, cRLSign=0x02. */
function keyUsage(bits: number): asn1js.BitString {
  let unused = 0;
  while (unused < 7 && !(bits & (1 << unused))) unused++;
  return new asn1js.BitString({ valueHex: Uint8Array.from([bits]).buffer, unusedBits: unused });
}

function altName(name: string): pkijs.GeneralName {
  if (isIP(name) === 4)
    return new pkijs.GeneralName({
      type: 7,
      value: new asn1js.OctetString({ valueHex: Uint8Array.from(name.split('.').map(Number)).buffer }),
    });
  return new pkijs.GeneralName({ type: 2, value: name });
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export async function issueCertificate(req: CertificateRequest): Promise<IssuedCertificate> {
  const crypto = cryptoEngine();
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const cert = new pkijs.Certificate();
  cert.version = 2;
  // A positive serial of 16 bytes (the leading 0x01 keeps it positive and minimal in DER).
  cert.serialNumber = new asn1js.Integer({ valueHex: Uint8Array.from([0x01, ...randomBytes(15)]).buffer });
  cert.subject = rdn(req.subject);
  cert.issuer = rdn(req.issuer?.subject ?? req.subject);
  cert.notBefore.value = new Date(Date.now() - 60_000);
  cert.notAfter.value = new Date(Date.now() + req.validDays * 86_400_000);
  await cert.subjectPublicKeyInfo.importKey(keys.publicKey, crypto);
  const basic = new pkijs.BasicConstraints({ cA: req.ca });
  cert.extensions = [
    extension(OID.basicConstraints, true, basic.toSchema()),
    extension(OID.keyUsage, true, keyUsage(req.ca ? 0x04 | 0x02 : 0x80 | 0x20)),
  ];
  if (!req.ca) cert.extensions.push(extension(OID.extKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: [OID.serverAuth] }).toSchema()));
  if (req.altNames?.length) {
    cert.extensions.push(extension(OID.subjectAltName, false, new pkijs.GeneralNames({ names: req.altNames.map(altName) }).toSchema()));
  }
  await cert.sign(req.issuer?.privateKey ?? keys.privateKey, 'SHA-256', crypto);
  const certPem = pem('CERTIFICATE', cert.toSchema(true).toBER(false));
  return {
    pem: certPem,
    keyPem: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
    privateKey: keys.privateKey,
    certificate: new X509Certificate(certPem),
  };
}
