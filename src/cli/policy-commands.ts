// `lockwarden policy …`: read a policy, hand it to the engine, print what it says.
import { readFile, writeFile } from 'node:fs/promises';
import { Document } from 'yaml';
import {
  compileDeclaration, compilePolicy, documentKeyOf, explainPolicy, formatExplanation, isVersion,
  mergeRequirements, profileContent, singlePayload, toPolicyDocument,
} from '../policy/index.ts';
import type { CompileTarget, Enrollment, PasscodePolicy, PasscodeRequirements, Platform, RequirementKey } from '../policy/index.ts';
import { checkPasscode } from '../policy/check.ts';
import { findExamplePasscode } from '../policy/example.ts';
import { buildProfile } from '../plist/mobileconfig.ts';
import { encodePlist } from '../plist/plist-codec.ts';
import { signCms, signingIdentityFromPem } from '../crypto/cms-signer.ts';
import { CmsError } from '../crypto/cms-reader.ts';
import { readPolicySource } from '../services/policy-source.ts';
import { CliError, EXIT_INVALID, EXIT_USAGE, printErrors, printJson, printNotes } from './output.ts';

interface TargetOptions { platform?: Platform; enrollment: Enrollment; osVersion?: string }

async function readInput(file: string): Promise<Buffer> {
  try {
    if (file === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    }
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, EXIT_USAGE);
  }
}

/** Reads and validates a policy; invalid input ends the command with every error listed. */
export async function loadPolicy(file: string, json = false): Promise<PasscodePolicy> {
  const result = await readPolicySource(await readInput(file));
  if (!result.ok) {
    if (json) printJson({ valid: false, errors: result.errors, notes: result.notes });
    else {
      printNotes(result.notes);
      printErrors(result.errors);
    }
    throw new CliError('', EXIT_INVALID);
  }
  if (!json) printNotes(result.notes);
  if (result.signature && !json) {
    const signer = result.signature.signers[0];
    process.stderr.write(`note: the profile is CMS-signed${signer ? ` by ${signer.subject}` : ''}; signature verified (trust in the signer not checked)\n`);
  }
  return result.value;
}

function targetOf(options: TargetOptions, platform: Platform): CompileTarget {
  if (options.osVersion !== undefined && !isVersion(options.osVersion)) {
    throw new CliError(`--os-version ${JSON.stringify(options.osVersion)} is not a version like 14.0`, EXIT_USAGE);
  }
  return { platform, enrollment: options.enrollment, ...(options.osVersion && { osVersion: options.osVersion }) };
}

/** The requirements a target's devices enforce, or the written ones when no platform is given. */
function requirementsFor(policy: PasscodePolicy, options: TargetOptions): PasscodeRequirements {
  if (!options.platform) return policy.requirements;
  const outcome = compilePolicy(policy.requirements, targetOf(options, options.platform));
  if (!outcome.ok) throw new CliError(`cannot apply this policy to ${options.platform}: ${outcome.reason}`);
  return outcome.compiled.effective;
}

export async function validateCommand(file: string, options: { json?: boolean }): Promise<void> {
  const policy = await loadPolicy(file, options.json);
  if (options.json) printJson({ valid: true, policy });
  else process.stdout.write(`valid: ${Object.keys(policy.requirements).length} requirement(s)\n`);
}

interface CompileOptions extends TargetOptions {
  format: 'mobileconfig' | 'payload' | 'ddm';
  platform: Platform;
  identifier?: string;
  name?: string;
  org?: string;
  signCert?: string;
  signKey?: string;
  output?: string;
}

export async function compileCommand(file: string, options: CompileOptions): Promise<void> {
  if (Boolean(options.signCert) !== Boolean(options.signKey)) {
    throw new CliError('--sign-cert and --sign-key go together', EXIT_USAGE);
  }
  if (options.signCert && options.format !== 'mobileconfig') {
    throw new CliError('only --format mobileconfig can be signed', EXIT_USAGE);
  }
  const policy = await loadPolicy(file);
  const meta = {
    ...policy.meta,
    ...(options.identifier && { identifier: options.identifier }),
    ...(options.name && { displayName: options.name }),
    ...(options.org && { organization: options.org }),
  };
  const outcome = compilePolicy(policy.requirements, targetOf(options, options.platform));
  if (!outcome.ok) throw new CliError(`cannot compile for ${options.platform}: ${outcome.reason}`);
  const { compiled } = outcome;
  // Decision 4: nothing is weakened silently; every gap is reported.
  for (const line of compiled.lines) {
    if (line.status !== 'enforced') process.stderr.write(`note: ${line.requirement}: ${line.detail}\n`);
  }

  let output: string | Buffer;
  if (options.format === 'ddm') {
    const declaration = compileDeclaration(compiled, meta);
    if (!declaration.ok) throw new CliError(`cannot compile a declaration for ${options.platform}: ${declaration.reason}`);
    for (const note of declaration.notes) process.stderr.write(`note: ${note}\n`);
    output = `${JSON.stringify(declaration.declaration, null, 2)}\n`;
  } else if (options.format === 'payload') {
    output = encodePlist(singlePayload(compiled, meta));
  } else {
    output = encodePlist(buildProfile(profileContent(compiled, meta)));
    if (options.signCert && options.signKey) {
      const [certificatesPem, privateKeyPem] = await Promise.all([
        readInput(options.signCert).then(String), readInput(options.signKey).then(String),
      ]);
      try {
        output = await signCms(Buffer.from(output, 'utf8'), signingIdentityFromPem(certificatesPem, privateKeyPem));
      } catch (err) {
        if (err instanceof CmsError) throw new CliError(`cannot sign with ${options.signCert}: ${err.message}`);
        throw err;
      }
    }
  }
  if (options.output) {
    await writeFile(options.output, output).catch((err: Error) => {
      throw new CliError(`cannot write ${options.output}: ${err.message}`, EXIT_USAGE);
    });
  }
  else if (typeof output !== 'string' && process.stdout.isTTY) throw new CliError('a signed profile is binary; write it with -o FILE', EXIT_USAGE);
  else process.stdout.write(output);
}

export async function explainCommand(file: string, options: { json?: boolean }): Promise<void> {
  const policy = await loadPolicy(file, options.json);
  const explanation = explainPolicy(policy.requirements);
  if (options.json) printJson({ requirements: policy.requirements, ...explanation });
  else process.stdout.write(formatExplanation(policy.requirements, explanation));
}

async function readPasscodeFromStdin(): Promise<string> {
  const input = (await readInput('-')).toString('utf8');
  return input.split(/\r?\n/)[0] ?? '';
}

export async function checkCommand(file: string, options: TargetOptions & { passcode?: string; passcodeStdin?: boolean; json?: boolean }): Promise<void> {
  if ((options.passcode === undefined) === !options.passcodeStdin) {
    throw new CliError('give the passcode with exactly one of --passcode X or --passcode-stdin', EXIT_USAGE);
  }
  if (options.passcodeStdin && file === '-') throw new CliError('stdin cannot carry both the policy and the passcode', EXIT_USAGE);
  const passcode = options.passcode ?? await readPasscodeFromStdin();
  const policy = await loadPolicy(file, options.json);
  const result = checkPasscode(passcode, requirementsFor(policy, options));
  if (!result.complies) process.exitCode = EXIT_INVALID;
  if (options.json) {
    printJson({ platform: options.platform ?? null, ...result });
    return;
  }
  const where = options.platform ? ` on ${options.platform}` : '';
  if (result.complies) process.stdout.write(`complies${where}\n`);
  else {
    process.stdout.write(`does not comply${where}:\n`);
    for (const f of result.failures) process.stdout.write(`  - ${f.message}\n`);
  }
  for (const f of result.notChecked) process.stderr.write(`note: not checked: ${f.message}\n`);
}

export async function exampleCommand(file: string, options: TargetOptions & { json?: boolean }): Promise<void> {
  const policy = await loadPolicy(file, options.json);
  const result = findExamplePasscode(requirementsFor(policy, options));
  if (options.json) printJson(result);
  if (result.kind !== 'found') process.exitCode = EXIT_INVALID;
  if (options.json) return;
  if (result.kind === 'found') process.stdout.write(`${result.passcode}\n`);
  else if (result.kind === 'impossible') {
    process.stderr.write('error: no passcode can satisfy this policy; these requirements conflict:\n');
    for (const c of result.conflicts) process.stderr.write(`  - ${c.requirements.join(' + ')}: ${c.explanation}\n`);
  } else {
    process.stderr.write(`error: no example found, and no conflict proven: ${result.reason}\n`);
  }
}

export async function mergeCommand(files: string[], options: { json?: boolean }): Promise<void> {
  if (files.length < 2) throw new CliError('merge needs at least two policy files', EXIT_USAGE);
  const policies: PasscodePolicy[] = [];
  for (const file of files) policies.push(await loadPolicy(file, options.json));
  const { requirements, sources } = mergeRequirements(policies.map((p) => p.requirements));
  const setBy = (key: RequirementKey) => (sources[key] ?? []).map((i) => files[i]!);
  if (options.json) {
    printJson({ requirements, sources: Object.fromEntries(Object.keys(sources).map((k) => [k, setBy(k as RequirementKey)])) });
    return;
  }
  // A policy file that compile and explain read back, each key annotated with its source.
  const document = new Document(toPolicyDocument({ meta: {}, requirements }));
  document.commentBefore = ` Effective policy of ${files.join(', ')}: strictest value per key`;
  for (const key of Object.keys(sources) as RequirementKey[]) {
    const path = documentKeyOf(key, requirements[key]).split('.');
    const node = document.getIn(path, true) as { comment?: string } | undefined;
    if (node && typeof node === 'object') node.comment = ` from ${setBy(key).join(', ')}`;
  }
  process.stdout.write(document.toString());
}
