/**
 * The ISO 4217 currencies whose minor unit is not a hundredth of the major
 * unit, by the number of decimal digits of their minor unit. Every other code
 * has two (USD: 1 unit = 100 cents). ISO 4217 rather than `Intl`, whose CLDR
 * digits are for display and differ for some currencies (IQD has 3 in ISO, 0
 * in CLDR), while the catalogue stores prices in ISO minor units.
 */
const minorUnitDigits: ReadonlyMap<string, number> = new Map([
  ...["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"].map(
    (code) => [code, 0] as const,
  ),
  ...["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"].map((code) => [code, 3] as const),
  ...["CLF", "UYW"].map((code) => [code, 4] as const),
]);

/** An amount as whole units and billionths of a unit, both with the amount's sign (google.type.Money). */
export interface UnitsAndNanos {
  readonly units: bigint;
  readonly nanos: number;
}

/** `amountMinor` minor units of `currencyCode` as whole units plus nanos: 1400 USD is 14 units, 0 nanos. */
export function moneyFromMinor(amountMinor: number, currencyCode: string): UnitsAndNanos {
  if (!Number.isSafeInteger(amountMinor)) {
    throw new RangeError(`amountMinor must be a safe integer, got ${amountMinor}`);
  }
  const digits = minorUnitDigits.get(currencyCode) ?? 2;
  const perUnit = 10n ** BigInt(digits);
  const minor = BigInt(amountMinor);
  // BigInt division truncates toward zero, so units and the remainder share the amount's sign.
  return { units: minor / perUnit, nanos: Number(minor % perUnit) * 10 ** (9 - digits) };
}
