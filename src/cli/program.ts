// lockwarden's command line, as a function of its arguments. Thin: it parses arguments, reads files and prints; the work is
// done by src/policy (pure) and src/services.
import { Command, CommanderError, Option } from 'commander';
import { ENROLLMENTS, PLATFORMS } from '../policy/index.ts';
import { CliError, EXIT_INVALID, EXIT_OK, EXIT_USAGE } from './output.ts';
import { checkCommand, compileCommand, exampleCommand, explainCommand, mergeCommand, validateCommand } from './policy-commands.ts';

const platformOption = () => new Option('--platform <platform>', 'target platform').choices(PLATFORMS);
const enrollmentOption = () => new Option('--enrollment <type>', 'enrollment type').choices(ENROLLMENTS).default('device');
const osVersionOption = () => new Option('--os-version <version>', 'oldest OS version the target devices run (default: current releases)');

export function buildProgram(): Command {
  const program = new Command('lockwarden')
    .description('Apple MDM for passcode management: one policy, every Apple platform')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    // Set before the subcommands are added, so they inherit it: usage errors become exit code 2.
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

  program.command('serve')
    .description('run the MDM server (SQLite in ./data; DATABASE_URL=postgres://… for PostgreSQL; PORT, default 8080)')
    // Loaded on demand: the policy commands should not pay for the server's modules at start-up.
    .action(async () => (await import('./serve-command.ts')).serveCommand());

  const serverOptions = (command: Command) => command
    .option('--server <url>', 'lockwarden server URL', process.env.LOCKWARDEN_SERVER ?? 'http://127.0.0.1:8080')
    .option('--token <token>', 'admin API token (default: $LOCKWARDEN_TOKEN)', process.env.LOCKWARDEN_TOKEN);

  const enrollmentToken = program.command('enrollment-token').description('enrollment tokens (over the admin API)');
  serverOptions(enrollmentToken.command('create').description('create an enrollment token and print its enrollment URL (shown once)'))
    .option('--label <label>', 'what the token is for')
    .option('--max-uses <n>', 'how many devices may enroll with it (default: unlimited)')
    .option('--expires-in-hours <h>', 'lifetime in hours (default 168)')
    .addOption(new Option('--identity <kind>', 'device identity in the profile').choices(['scep', 'pkcs12', 'any']))
    .option('--json', 'machine-readable output')
    .action(async (options) => (await import('./admin-commands.ts')).createEnrollmentTokenCommand(options));

  const devices = program.command('devices').description('enrolled devices (over the admin API)');
  serverOptions(devices.command('list').description('list devices with their UnlockToken escrow status'))
    .option('--json', 'machine-readable output')
    .action(async (options) => (await import('./admin-commands.ts')).listDevicesCommand(options));
  serverOptions(devices.command('show').argument('<udid>').description('one device, as JSON'))
    .action(async (udid, options) => (await import('./admin-commands.ts')).showDeviceCommand(udid, options));

  serverOptions(devices.command('groups').argument('<udid>').argument('[groups...]', 'the groups it carries from now on (none: no group)').description("set a device's groups (policies assigned to a group reach its devices)"))
    .action(async (udid, groups, options) => (await import('./policy-admin-commands.ts')).setDeviceGroupsCommand(udid, groups, options));
  serverOptions(devices.command('effective-policy').argument('<udid>').description('the merged, compiled policy a device gets, or why none applies (JSON)'))
    .action(async (udid, options) => (await import('./policy-admin-commands.ts')).effectivePolicyCommand(udid, options));

  const policies = program.command('policies').description('passcode policies stored on the server, versioned and assigned (over the admin API)');
  serverOptions(policies.command('create').argument('<file>', 'policy file, as `policy validate` reads it').description('store a policy (version 1)'))
    .requiredOption('--name <name>', 'a unique name')
    .option('--json', 'machine-readable output')
    .action(async (file, options) => (await import('./policy-admin-commands.ts')).createPolicyCommand(file, options));
  serverOptions(policies.command('update').argument('<id>').argument('<file>').description('store a new version of a policy'))
    .option('--expected-version <n>', 'refuse if someone else changed it since this version')
    .option('--json', 'machine-readable output')
    .action(async (id, file, options) => (await import('./policy-admin-commands.ts')).updatePolicyCommand(id, file, options));
  serverOptions(policies.command('list').description('stored policies with their current version'))
    .option('--json', 'machine-readable output')
    .action(async (options) => (await import('./policy-admin-commands.ts')).listPoliciesCommand(options));
  serverOptions(policies.command('show').argument('<id>').description('one policy with its versions (JSON)'))
    .action(async (id, options) => (await import('./policy-admin-commands.ts')).showPolicyCommand(id, options));
  for (const [verb, what, command] of [['assign', 'assign a policy to every device, a group or one device', 'assignPolicyCommand'], ['unassign', 'remove one assignment of a policy', 'unassignPolicyCommand']] as const) {
    serverOptions(policies.command(verb).argument('<id>').description(what))
      .option('--all', 'every device')
      .option('--group <group>', 'the devices carrying this group')
      .option('--udid <udid>', 'one device')
      .action(async (id, options) => (await import('./policy-admin-commands.ts'))[command](id, options));
  }

  const pushCertificate = program.command('push-certificate').description('the MDM push (APNs) certificate');
  serverOptions(pushCertificate.command('import').description('import the push certificate from identity.apple.com (.p12, or PEM cert + key)'))
    .option('--p12 <file>', 'the .p12 file')
    .option('--password <password>', 'its password (default: $LOCKWARDEN_P12_PASSWORD)')
    .option('--cert <pem>', 'certificate PEM')
    .option('--key <pem>', 'private key PEM')
    .option('--allow-topic-change', 'replace a certificate with a different topic (devices must re-enroll)')
    .action(async (options) => (await import('./admin-commands.ts')).importPushCertificateCommand(options));

  const audit = program.command('audit').description('the tamper-evident audit log of admin actions');
  audit.command('verify')
    .description("check the audit log's HMAC chain, reading the database directly with the server's configuration (DATABASE_URL or LOCKWARDEN_DATA_DIR, LOCKWARDEN_MASTER_KEY or the key file); exit 1 at the first broken event")
    .option('--json', 'machine-readable output')
    .action(async (options) => (await import('./audit-commands.ts')).verifyAuditCommand(options));
  serverOptions(audit.command('list').description('audit events, newest first (over the admin API; admin or auditor token)'))
    .option('--limit <n>', 'events per page, 1-1000 (default 100)')
    .option('--action <action>', 'only this action, e.g. command.enqueue')
    .option('--target <target>', 'only this target: a UDID, token id, topic…')
    .option('--since <time>', 'from this ISO 8601 time (inclusive)')
    .option('--until <time>', 'up to this ISO 8601 time (exclusive)')
    .addOption(new Option('--order <order>', 'order by seq').choices(['desc', 'asc']))
    .option('--all', 'follow every page, not just the first')
    .option('--json', 'machine-readable output')
    .action(async (options) => (await import('./audit-commands.ts')).listAuditCommand(options));

  const apiToken = program.command('api-token').description('API tokens for the admin API (over the admin API; admin token)');
  serverOptions(apiToken.command('create').description('create an API token with a role (shown once)'))
    .requiredOption('--name <name>', 'who or what the token is for')
    .addOption(new Option('--role <role>', 'what it may do').choices(['admin', 'operator', 'auditor']).makeOptionMandatory())
    .option('--json', 'machine-readable output')
    .action(async (options) => (await import('./api-token-commands.ts')).createApiTokenCommand(options));
  serverOptions(apiToken.command('list').description('every API token, without secrets'))
    .option('--json', 'machine-readable output')
    .action(async (options) => (await import('./api-token-commands.ts')).listApiTokensCommand(options));
  serverOptions(apiToken.command('revoke').argument('<id>').description('revoke an API token (not the last admin one)'))
    .action(async (id, options) => (await import('./api-token-commands.ts')).revokeApiTokenCommand(id, options));

  program.command('simulate')
    .description('enroll a fleet of simulated Apple devices against a lockwarden server and keep them running until Ctrl-C')
    .requiredOption('--enroll-token <token>', 'an enrollment token (lockwarden enrollment-token create)')
    .option('--server <url>', 'lockwarden server URL', process.env.LOCKWARDEN_SERVER ?? 'http://127.0.0.1:8080')
    .option('--devices <n>', 'how many devices', '10')
    .option('--mix <mix>', 'kinds and weights: platforms (ios, ipados, macos, watchos, visionos, tvos) or device presets (iphone-user-enrollment, shared-ipad, …)', 'ios=60,macos=30,watchos=10')
    .addOption(new Option('--identity <kind>', 'how devices get their identity').choices(['scep', 'pkcs12', 'alternate']).default('scep'))
    .option('--apns-port <port>', 'port of the local APNs mock the server should push to (0: any free port)', '0')
    .option('--poll <seconds>', 'devices also check in about this often (0: only on pushes)', '60')
    .option('--concurrency <n>', 'enrollments in flight at once', '8')
    .action(async (options) => (await import('./simulate-command.ts')).simulateCommand(options));

  program.command('demo')
    .description('a throwaway server with a simulated fleet, two example policies and the local APNs mock; Ctrl-C removes it all')
    .option('--devices <n>', 'how many devices', '50')
    .option('--port <port>', 'port for the server (0: any free port)', process.env.PORT ?? '8080')
    .action(async (options) => (await import('./demo-command.ts')).demoCommand(options));

  const policy = program.command('policy').description('author, check and compile passcode policies (no server needed)');

  policy.command('validate').argument('<file>', 'policy: JSON/YAML (either key style), .mobileconfig/plist (signed or not), or DDM declaration; "-" for stdin')
    .description('report every problem in a policy at once')
    .option('--json', 'machine-readable output')
    .action(validateCommand);

  policy.command('compile').argument('<file>', 'policy file, or "-" for stdin')
    .description('compile a policy for one platform')
    .addOption(new Option('--format <format>', 'output format').choices(['mobileconfig', 'payload', 'ddm']).default('mobileconfig'))
    .addOption(platformOption().default('ios'))
    .addOption(enrollmentOption())
    .addOption(osVersionOption())
    .option('--identifier <id>', 'profile PayloadIdentifier (reverse DNS); default from the policy')
    .option('--name <name>', 'profile display name')
    .option('--org <organization>', 'profile organization')
    .option('--sign-cert <pem>', 'sign the profile with this certificate (PEM)')
    .option('--sign-key <pem>', 'private key for --sign-cert (PEM)')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action(compileCommand);

  policy.command('explain').argument('<file>', 'policy file, or "-" for stdin')
    .description('show, per platform, how each requirement is enforced, capped, approximated or not enforceable')
    .option('--json', 'machine-readable output')
    .action(explainCommand);

  policy.command('check').argument('<file>', 'policy file, or "-" for stdin')
    .description('check a passcode against a policy (exit 0 if it complies, 1 with every reason if not)')
    .option('--passcode <passcode>', 'the passcode to check (visible to other local users; prefer --passcode-stdin)')
    .option('--passcode-stdin', 'read the passcode from the first line of stdin')
    .addOption(platformOption())
    .addOption(enrollmentOption())
    .addOption(osVersionOption())
    .option('--json', 'machine-readable output')
    .action(checkCommand);

  policy.command('example').argument('<file>', 'policy file, or "-" for stdin')
    .description('print a passcode that satisfies the policy, or show which requirements conflict')
    .addOption(platformOption())
    .addOption(enrollmentOption())
    .addOption(osVersionOption())
    .option('--json', 'machine-readable output')
    .action(exampleCommand);

  policy.command('merge').argument('<files...>', 'two or more policy files')
    .description('the effective policy of several policies on one device: strictest value per key')
    .option('--json', 'machine-readable output')
    .action(mergeCommand);

  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return process.exitCode === undefined ? EXIT_OK : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? EXIT_OK : EXIT_USAGE;
    }
    if (err instanceof CliError) {
      if (err.message) process.stderr.write(`error: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`error: unexpected failure: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_INVALID;
  }
}
