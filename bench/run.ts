// `npm run bench`: every benchmark suite, one after another.
import { runPlistBench } from './plist-bench.ts';
import { runPolicyBench } from './policy-bench.ts';

runPolicyBench();
runPlistBench();
