// The admin API's OpenAPI document, generated from the route schemas themselves, served at
// /api/v1/openapi.json and rendered at /docs. Both are public: they describe the API and reveal
// no data. Registered on the root instance before the route plugins: @fastify/swagger collects
// routes with an onRoute hook, which only sees routes registered after it.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import packageJson from '../../package.json' with { type: 'json' };
import { SHARED_SCHEMAS } from './api-schemas.ts';

export const OPENAPI_PATH = '/api/v1/openapi.json';
export const DOCS_PREFIX = '/docs';

const DESCRIPTION = `Admin API of lockwarden, an Apple MDM server for passcode management.

Authenticate with an API token as a bearer token (\`Authorization: Bearer …\`), or, as NanoMDM-era
tooling does, as the password of HTTP Basic. Each route names the roles it admits. Errors are
\`application/problem+json\` (RFC 9457).

The device-facing endpoints (\`/mdm/checkin\`, \`/mdm/connect\`, \`/mdm/enroll\`, \`/scep\`) follow
Apple's MDM protocol and RFC 8894 and are not part of this document.`;

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'lockwarden admin API', version: packageJson.version, description: DESCRIPTION },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API token (LOCKWARDEN_ADMIN_TOKEN, or one created by an admin).' },
          basicAuth: { type: 'http', scheme: 'basic', description: 'NanoMDM-style: any user name, the API token as the password.' },
        },
      },
      tags: [
        { name: 'Enrollment', description: 'Enrollment tokens and the links devices enroll with' },
        { name: 'Devices', description: 'Enrolled devices, their escrow status and commands' },
        { name: 'Policies', description: "Stored passcode policies, their versions and assignments, and each device's effective policy" },
        { name: 'Push', description: 'The APNs push certificate' },
        { name: 'NanoMDM compatibility', description: "NanoMDM's /v1 API for existing tooling" },
        { name: 'Audit', description: 'The tamper-evident audit log' },
        { name: 'API tokens', description: 'Tokens for this API; secrets are shown once' },
        { name: 'Operations', description: 'Liveness, readiness and metrics; no token' },
        { name: 'Documentation', description: 'This document; no token' },
      ],
    },
    // Components named after the shared schemas' $id (Problem, Device…), not def-0, def-1….
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });

  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    // `urls` makes the UI load the canonical document rather than its own copy at /docs/json.
    uiConfig: { urls: [{ url: OPENAPI_PATH, name: 'lockwarden admin API' }], deepLinking: true },
    theme: { title: 'lockwarden admin API' },
  });

  app.get(OPENAPI_PATH, {
    schema: {
      tags: ['Documentation'],
      summary: 'This OpenAPI document',
      operationId: 'getOpenApiDocument',
      security: [],
      response: {
        200: {
          description: 'The OpenAPI 3 document of the admin API',
          type: 'object',
          required: ['openapi', 'info', 'paths'],
          // The whole document passes through; the serializer would drop whatever is not listed.
          additionalProperties: true,
        },
      },
    },
  }, async () => app.swagger());
}
