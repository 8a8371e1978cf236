// The baseline for the check-in bench: Fastify receiving the same bytes and answering 200, nothing
// else. Reports its own CPU time so the bench can compare per-request cost.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
app.put('/mdm/connect', async (_request, reply) => reply.code(200).send());
app.put('/mdm/checkin', async (_request, reply) => reply.code(200).send());
app.get('/stats', async () => {
  const usage = process.cpuUsage();
  return { cpuSeconds: (usage.user + usage.system) / 1e6, rssBytes: process.memoryUsage().rss };
});
const url = await app.listen({ port: 0, host: '127.0.0.1' });
console.log(url);
