// `npm run bench`: every benchmark suite, one after another.
import { runCheckinBench } from './checkin-bench.ts';
import { runCryptoBench } from './crypto-bench.ts';
import { runPlistBench } from './plist-bench.ts';
import { runPolicyBench } from './policy-bench.ts';
import { runStoreBench } from './store-bench.ts';

runPolicyBench();
runPlistBench();
runCryptoBench();
await runStoreBench();
await runCheckinBench();
