// What extraction yields per installed package, and the policy it is judged by.
import { z } from 'zod';
import { LicensePolicy } from '../plan/model';

export const InstalledPackage = z.object({
  name: z.string().min(1),
  /** Epoch-less upstream version (RPM) or the full Debian version. */
  version: z.string(),
  release: z.string().optional(),
  epoch: z.string().optional(),
  arch: z.string(),
  /** Source package (RPM SOURCERPM without .src.rpm, Debian Source:). */
  source: z.string().optional(),
  /** License strings as written by the packager: one RPM tag, or every DEP-5 Files: stanza's License:. */
  declared: z.array(z.string()),
  /** Where `declared` came from (an RPM tag, a copyright file path). */
  origin: z.string(),
  /** How the license was read: the RPM tag, a DEP-5 file, a free-form file, nothing at all. */
  licenseSource: z.enum(['rpm-tag', 'dep5', 'unparsed', 'missing']),
  /** Short names whose license text in the copyright file matched an SPDX license's text (licenses/text-match.ts). */
  identified: z.record(z.string(), z.string()).optional(),
  /** licensecheck's reading of a free-form copyright file, as a hint to the reviewer. */
  guess: z.string().optional(),
  /** The free-form copyright text, kept for review (truncated to RAW_TEXT_LIMIT). */
  raw: z.string().optional(),
  /** Vendor, packager or maintainer; "NOASSERTION" in the SBOM when absent. */
  supplier: z.string().optional(),
  flavour: z.enum(['rpm', 'debian']),
});
export type InstalledPackage = z.infer<typeof InstalledPackage>;

export const RAW_TEXT_LIMIT = 64 * 1024;

// Waivers belong to the language (plan/model.ts declares them, the planner passes them in
// the policy); they are re-exported here for the license code.
export { Waiver } from '../plan/model';

/** The language's license-policy, waivers included. */
export const Policy = LicensePolicy;
export type Policy = z.infer<typeof Policy>;
export type PolicyInput = z.input<typeof Policy>;

/** A verdict from ALT's license-verificator for one package. */
export const ExternalVerdict = z.object({
  package: z.string(),
  verdict: z.enum(['pass', 'review', 'fail']),
  comment: z.string().default(''),
});
export type ExternalVerdict = z.infer<typeof ExternalVerdict>;
