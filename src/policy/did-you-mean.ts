// Suggests the known key an unknown one was probably meant to be.

function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      previous[j] = Math.min(above + 1, previous[j - 1]! + 1, diagonal + cost);
      diagonal = above;
    }
  }
  return previous[b.length]!;
}

/** The closest candidate, compared case-insensitively, if it is close enough to be a typo. */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  const wanted = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  let bestExactDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(wanted, candidate.toLowerCase());
    // Ties (minLength vs MinimumLength styles) go to the candidate closer in exact case.
    const exact = distance <= bestDistance ? editDistance(input, candidate) : Infinity;
    if (distance < bestDistance || (distance === bestDistance && exact < bestExactDistance)) {
      best = candidate;
      bestDistance = distance;
      bestExactDistance = exact;
    }
  }
  // A third of the word, at least 2 edits: catches "minLenght" and "MinLength", not "colour".
  const tolerance = Math.max(2, Math.floor(input.length / 3));
  return bestDistance <= tolerance ? best : undefined;
}
