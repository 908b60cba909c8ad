// Which names in a partner's ackDir are acks, and where ackAfterRead moves them (product.md 5).
import path from 'node:path';
import type { PartnerConfig } from '../config/schema.js';

export type AfterRead = { kind: 'delete' } | { kind: 'keep' } | { kind: 'move'; dir: string };

/** ackAfterRead of a partner; a relative move dir is relative to ackDir. */
export function afterReadOf(sftp: Pick<PartnerConfig['sftp'], 'ackAfterRead' | 'ackDir'>): AfterRead {
  const v = sftp.ackAfterRead;
  if (v === 'keep') return { kind: 'keep' };
  if (v.startsWith('move:')) {
    const raw = v.slice('move:'.length).trim();
    const dir = path.posix.normalize(raw.startsWith('/') ? raw : path.posix.join(sftp.ackDir, raw)).replace(/\/+$/, '') || '/';
    return { kind: 'move', dir };
  }
  return { kind: 'delete' };
}

/** Which names in ackDir are acks: `*.xml`, no dotfiles, nothing ending in tempSuffix. */
export function isAckName(name: string, tempSuffix: string): boolean {
  if (!name || name.startsWith('.') || name.includes('/') || name.includes('\\')) return false;
  if (tempSuffix && name.endsWith(tempSuffix)) return false;
  return name.toLowerCase().endsWith('.xml');
}
