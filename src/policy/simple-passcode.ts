// allowSimple=false (Apple's Passcode payload) forbids "simple" passcodes. Apple does not define
// the term precisely; lockwarden's definition is DESIGN.md decision 5, implemented here.

/**
 * How a passcode is simple, or null when it is not.
 * - `single`: exactly one character (both rules below hold vacuously).
 * - `repeated`: two or more characters, all the same ("1111").
 * - `ascending`: each character's code point is one more than the previous ("1234", "abc", "yz{").
 * - `descending`: each character's code point is one less than the previous ("4321", "CBA").
 */
export type SimpleKind = 'single' | 'repeated' | 'ascending' | 'descending';

/**
 * Classifies a passcode under decision 5. Works on Unicode code points, not UTF-16 units, so
 * "😀😁" (U+1F600, U+1F601) is an ascending run. Runs do not wrap: "7890" is not simple because
 * '9' → '0' is not +1, and "Za" is not simple because 'a' is 7 code points after 'Z'.
 * The empty string is "no passcode", not a simple one: it returns null, and whoever checks a
 * policy handles emptiness on its own (check.ts: "a passcode is required").
 */
export function simplePasscodeKind(passcode: string): SimpleKind | null {
  const codePoints = Array.from(passcode, (ch) => ch.codePointAt(0) ?? 0);
  const [first, second] = codePoints;
  if (first === undefined) return null;
  if (second === undefined) return 'single';
  const step = second - first;
  if (step !== 0 && step !== 1 && step !== -1) return null;
  for (let i = 2; i < codePoints.length; i++) {
    if ((codePoints[i] ?? 0) - (codePoints[i - 1] ?? 0) !== step) return null;
  }
  return step === 0 ? 'repeated' : step === 1 ? 'ascending' : 'descending';
}

/**
 * Decision 5: a passcode is simple when it is all one repeated character, or a run whose code
 * points rise by exactly one the whole way, or fall by exactly one the whole way.
 * A 1-character passcode is simple (both definitions hold vacuously); the empty string is not
 * (it is the absence of a passcode, see {@link simplePasscodeKind}).
 */
export function isSimplePasscode(passcode: string): boolean {
  return simplePasscodeKind(passcode) !== null;
}
