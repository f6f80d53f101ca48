import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  compareQuantities,
  formatQuantity,
  isZero,
  multiplyQuantity,
  parseQuantity,
  quantityToNumber,
} from '../../src/quantities/index.js';
import type { Quantity } from '../../src/quantities/index.js';

function q(input: unknown): Quantity {
  const parsed = parseQuantity(input);
  if (!parsed.ok) assert.fail(`expected ${JSON.stringify(input)} to parse: ${parsed.error}`);
  return parsed.value;
}

/** Asserts the exact value as a reduced fraction. */
function assertValue(input: unknown, num: bigint, den = 1n): void {
  const value = q(input);
  assert.deepEqual([value.num, value.den], [num, den], `value of ${JSON.stringify(input)}`);
}

const KI = 1024n;

describe('parseQuantity: suffixes', () => {
  const cases: Array<[string, bigint, bigint?]> = [
    ['1', 1n],
    ['1n', 1n, 10n ** 9n],
    ['1u', 1n, 10n ** 6n],
    ['1m', 1n, 1000n],
    ['1k', 1000n],
    ['1M', 10n ** 6n],
    ['1G', 10n ** 9n],
    ['1T', 10n ** 12n],
    ['1P', 10n ** 15n],
    ['1E', 10n ** 18n],
    ['1Ki', KI],
    ['1Mi', KI ** 2n],
    ['1Gi', KI ** 3n],
    ['1Ti', KI ** 4n],
    ['1Pi', KI ** 5n],
    ['1Ei', KI ** 6n],
    ['200m', 1n, 5n],
    ['100m', 1n, 10n],
    ['30Mi', 30n * KI ** 2n],
    ['2Gi', 2n * KI ** 3n],
    ['4m', 1n, 250n],
  ];
  for (const [input, num, den] of cases) {
    it(`${input} = ${num}/${den ?? 1n}`, () => assertValue(input, num, den));
  }
});

describe('parseQuantity: decimals, exponents and signs', () => {
  const cases: Array<[string, bigint, bigint?]> = [
    ['1.5Mi', 3n * 512n * KI],
    ['1.5Gi', 1536n * KI ** 2n],
    ['0.1', 1n, 10n],
    ['.5', 1n, 2n],
    ['5.', 5n],
    ['5.Mi', 5n * KI ** 2n],
    ['0.5Ki', 512n],
    ['0.1Ki', 512n, 5n],
    ['1.2345', 2469n, 2000n],
    ['00010', 10n],
    ['10.000', 10n],
    ['1e3', 1000n],
    ['1E3', 1000n],
    ['1e-3', 1n, 1000n],
    ['1E-3', 1n, 1000n],
    ['+1e+3', 1000n],
    ['1e+3', 1000n],
    ['1e03', 1000n],
    ['1e0', 1n],
    ['1e-0', 1n],
    ['1.5e3', 1500n],
    ['.5e1', 5n],
    ['1.e3', 1000n],
    ['12e-1', 6n, 5n],
    ['+1', 1n],
    ['-1', -1n],
    ['+.5', 1n, 2n],
    ['-.5', -1n, 2n],
    ['-1.5Gi', -1536n * KI ** 2n],
    ['-100m', -1n, 10n],
    ['-1e3', -1000n],
    ['0', 0n],
    ['-0', 0n],
    ['0.000Mi', 0n],
    ['0e5', 0n],
  ];
  for (const [input, num, den] of cases) {
    it(`${input} = ${num}/${den ?? 1n}`, () => assertValue(input, num, den));
  }

  it('keeps the input text as raw', () => {
    assert.equal(q('1.5Mi').raw, '1.5Mi');
    assert.equal(q('+1e+3').raw, '+1e+3');
  });

  it('returns a frozen value', () => {
    assert.ok(Object.isFrozen(q('1Gi')));
  });
});

describe('parseQuantity: numbers as input', () => {
  const cases: Array<[number, bigint, bigint?]> = [
    [10, 10n],
    [0.5, 1n, 2n],
    [40, 40n],
    [0, 0n],
    [-0, 0n],
    [-1, -1n],
    [0.1, 1n, 10n],
    [1.5, 3n, 2n],
    [1e21, 10n ** 21n],
    [1e-7, 1n, 10n ** 7n],
    [2 ** 53, 2n ** 53n],
  ];
  for (const [input, num, den] of cases) {
    it(`${input} = ${num}/${den ?? 1n}`, () => assertValue(input, num, den));
  }

  it('keeps String(n) as raw', () => {
    assert.equal(q(10).raw, '10');
    assert.equal(q(1e21).raw, '1e+21');
  });

  it('treats a number and its string form alike', () => {
    for (const n of [10, 0.5, 40, 1e21, 1e-7, 123.456]) {
      assert.equal(compareQuantities(q(n), q(String(n))), 0, String(n));
    }
  });

  it('parses the largest and smallest finite doubles', () => {
    assert.ok(parseQuantity(Number.MAX_VALUE).ok);
    assert.ok(parseQuantity(Number.MIN_VALUE).ok);
    assert.ok(parseQuantity(-Number.MAX_VALUE).ok);
  });

  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    it(`rejects ${bad}`, () => {
      const parsed = parseQuantity(bad);
      assert.equal(parsed.ok, false);
      if (!parsed.ok) assert.match(parsed.error, /finite/);
    });
  }
});

describe('parseQuantity: invalid input', () => {
  const invalid = [
    '',
    ' ',
    '\t',
    '\n',
    '212asdf',
    '1asdf',
    '1.2.3',
    'Mi',
    'Ki',
    'm',
    'E',
    'e3',
    '1 Gi',
    ' 1',
    '1 ',
    '1Gi\n',
    '1KI',
    '1K',
    '1k ',
    '1mi',
    '1gi',
    '1Mii',
    '1mm',
    '1i',
    '.5i',
    '1.1.M',
    '1+1.0M',
    '0.1mi',
    '0.1am',
    'aoeu',
    'foo',
    '1e',
    '1E+',
    '1e-',
    '-3.01e-',
    '1e3.5',
    '1ee3',
    '1e3k',
    '1Ki3',
    '1e 3',
    '+',
    '-',
    '.',
    '+.',
    '--1',
    '+-1',
    '1-',
    '0x10',
    '1_000',
    '1,000',
    'Infinity',
    'NaN',
    '１',
    '1constructor',
    '1__proto__',
    '1toString',
  ];
  for (const input of invalid) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      const parsed = parseQuantity(input);
      assert.equal(parsed.ok, false);
      if (!parsed.ok) assert.ok(parsed.error.length > 0);
    });
  }

  for (const input of [null, undefined, true, {}, [], ['1'], 10n, Symbol('1')]) {
    it(`rejects a ${typeof input} input`, () => {
      const parsed = parseQuantity(input);
      assert.equal(parsed.ok, false);
      if (!parsed.ok) assert.match(parsed.error, /string or a number/);
    });
  }

  it('names the bad suffix', () => {
    const parsed = parseQuantity('212asdf');
    assert.equal(parsed.ok, false);
    if (!parsed.ok) assert.match(parsed.error, /"asdf"/);
  });

  it('truncates a huge input in the error message', () => {
    const parsed = parseQuantity(`1${'x'.repeat(100_000)}`);
    assert.equal(parsed.ok, false);
    if (!parsed.ok) assert.ok(parsed.error.length < 400, `message length ${parsed.error.length}`);
  });

  it('rejects every unparseable value in the conformance resources', () => {
    const root = new URL('../fixtures/conformance/gatekeeper-library-rego-unit/', import.meta.url);
    const files = [
      'containerlimits/test_no_parse_cpu.yaml',
      'containerlimits/test_no_parse_ram.yaml',
      'containerlimits/test_no_parse_cpu_skip.yaml',
      'containerrequests/test_no_parse_cpu.yaml',
      'containerrequests/test_no_parse_ram.yaml',
    ];
    const values = new Set<string>();
    for (const file of files) {
      for (const m of readFileSync(new URL(file, root), 'utf8').matchAll(/(?:cpu|memory): *(\S*asdf\S*)/g)) {
        values.add(m[1] ?? '');
      }
    }
    assert.deepEqual([...values].sort(), ['1asdf', '212asdf']);
    for (const value of values) assert.equal(parseQuantity(value).ok, false, value);
  });
});

describe('parseQuantity: abuse bounds', () => {
  it('accepts an exponent of exactly ±1000', () => {
    assertValue('1e1000', 10n ** 1000n);
    assertValue('1e+1000', 10n ** 1000n);
    assertValue('1e0001000', 10n ** 1000n);
  });

  for (const input of ['1e1001', '1e-1001', '1e999999999', '1E999999999', '1e-999999999', `1e${'9'.repeat(100_000)}`]) {
    it(`rejects ${input.slice(0, 20)} as an exponent beyond the bound`, () => {
      const parsed = parseQuantity(input);
      assert.equal(parsed.ok, false);
      if (!parsed.ok) assert.match(parsed.error, /exponent/);
    });
  }

  it('accepts 1000 mantissa digits and rejects 1001', () => {
    assertValue(`1${'0'.repeat(999)}`, 10n ** 999n);
    assertValue(`0.${'0'.repeat(997)}1e1000`, 10n ** 2n);
    const parsed = parseQuantity(`1${'0'.repeat(1000)}`);
    assert.equal(parsed.ok, false);
    if (!parsed.ok) assert.match(parsed.error, /digits/);
  });

  it('counts fraction digits toward the bound', () => {
    assert.equal(parseQuantity(`1.${'0'.repeat(1000)}`).ok, false);
  });

  it('combines the largest mantissa and exponent exactly', () => {
    assertValue(`${'9'.repeat(1000)}e1000`, (10n ** 1000n - 1n) * 10n ** 1000n);
  });
});

describe('parseQuantity: Kubernetes value semantics', () => {
  it('rounds values finer than nano away from zero', () => {
    assertValue('0.1n', 1n, 10n ** 9n);
    assertValue('1.5n', 1n, 5n * 10n ** 8n);
    assertValue('-0.1n', -1n, 10n ** 9n);
    assertValue('1e-10', 1n, 10n ** 9n);
    assertValue('1e-1000', 1n, 10n ** 9n);
    assertValue(1e-10, 1n, 10n ** 9n);
    assertValue('1.0000000001', 1000000001n, 10n ** 9n);
  });

  it('keeps values that are exact at nano', () => {
    assertValue('1.000000001', 1000000001n, 10n ** 9n);
    assertValue('0.000000000', 0n);
  });

  it('caps binary-suffixed values at 2^63-1', () => {
    assertValue('8Ei', 2n ** 63n - 1n);
    assertValue('16Ei', 2n ** 63n - 1n);
    assertValue('-8Ei', -(2n ** 63n - 1n));
    assertValue('7Ei', 7n * KI ** 6n);
    assertValue('7.999Ei', 7999n * 2n ** 57n, 125n);
  });

  it('does not cap decimal values', () => {
    assertValue('18446744073709551616', 2n ** 64n);
    assertValue('1000E', 10n ** 21n);
    assert.equal(compareQuantities(q('18446744073709551616'), q('8Ei')), 1);
  });
});

describe('compareQuantities', () => {
  it('orders the unit ladder one boundary at a time', () => {
    const ladder = ['1n', '1u', '1m', '1', '1k', '1Ki', '1M', '1Mi', '1G', '1Gi', '1T', '1Ti', '1P', '1Pi', '1E', '1Ei'];
    for (let i = 0; i + 1 < ladder.length; i++) {
      const lo = ladder[i] ?? '';
      const hi = ladder[i + 1] ?? '';
      assert.equal(compareQuantities(q(lo), q(hi)), -1, `${lo} < ${hi}`);
      assert.equal(compareQuantities(q(hi), q(lo)), 1, `${hi} > ${lo}`);
    }
    for (let i = 0; i < ladder.length; i++) {
      for (let j = 0; j < ladder.length; j++) {
        const expected = i < j ? -1 : i > j ? 1 : 0;
        assert.equal(compareQuantities(q(ladder[i]), q(ladder[j])), expected, `${ladder[i]} vs ${ladder[j]}`);
      }
    }
  });

  const ordered: Array<[string | number, string | number, -1 | 0 | 1]> = [
    // memory `m` is milli-bytes
    ['10', '1000m', 1],
    [10, '1000m', 1],
    ['1000m', '1', 0],
    ['1m', '1', -1],
    ['999m', '1', -1],
    ['1001m', '1', 1],
    ['1', '1k', -1],
    ['1k', '1M', -1],
    ['1M', '1G', -1],
    ['1G', '1T', -1],
    ['1T', '1P', -1],
    ['1P', '1E', -1],
    ['1Ki', '1Mi', -1],
    ['1Mi', '1Gi', -1],
    ['1Gi', '1Ti', -1],
    ['1Ti', '1Pi', -1],
    ['1Pi', '1Ei', -1],
    ['1Ki', '1k', 1],
    ['1Mi', '1M', 1],
    ['1Gi', '1G', 1],
    ['1Ti', '1T', 1],
    ['1Pi', '1P', 1],
    ['1Ei', '1E', 1],
    ['1000Ki', '1M', 1],
    ['976Ki', '1M', -1],
    ['977Ki', '1M', 1],
    ['953Mi', '1G', -1],
    ['954Mi', '1G', 1],
    ['1024k', '1Mi', -1],
    ['1048576', '1Mi', 0],
    ['1048577', '1Mi', 1],
    ['1023Ki', '1Mi', -1],
    ['1025Ki', '1Mi', 1],
    ['1k', '1000', 0],
    ['1k', '999', 1],
    ['1E', '1e18', 0],
    ['1E', '1E3', 1],
    // equalities across forms
    ['1024Ki', '1Mi', 0],
    ['1024Mi', '1Gi', 0],
    ['1024Pi', '1Ei', 0],
    ['1000k', '1M', 0],
    ['1000P', '1E', 0],
    ['0.5', '500m', 0],
    [0.5, '500m', 0],
    ['1e3', '1k', 0],
    ['1E3', '1k', 0],
    ['1e-3', '1m', 0],
    ['1e-6', '1u', 0],
    ['1e-9', '1n', 0],
    ['1000n', '1u', 0],
    ['1000u', '1m', 0],
    ['1.5Mi', '1536Ki', 0],
    ['1.5Gi', '1536Mi', 0],
    ['0.5Ki', '512', 0],
    ['1.5', '1500m', 0],
    ['4', '4000m', 0],
    ['4m', '0.004', 0],
    ['+1e+3', '1000', 0],
    ['0', '-0', 0],
    ['0', '0Mi', 0],
    // signs
    ['-1', '0', -1],
    ['-1', '-2', 1],
    ['-1Gi', '-1G', -1],
    ['-1', '1m', -1],
    // conformance-style values
    ['200m', '100m', 1],
    ['2Gi', '1Gi', 1],
    ['30Mi', '1Gi', -1],
    [40, '4', 1],
    ['40', '4m', 1],
    [2, '2', 0],
    ['1', '1k', -1],
  ];
  for (const [a, b, expected] of ordered) {
    it(`${JSON.stringify(a)} vs ${JSON.stringify(b)} is ${expected}`, () => {
      assert.equal(compareQuantities(q(a), q(b)), expected);
      assert.equal(compareQuantities(q(b), q(a)), -expected || 0);
    });
  }

  it('is exact where floating point is not', () => {
    assert.equal(compareQuantities(q('0.1'), q('100m')), 0);
    assert.equal(compareQuantities(q('9007199254740993'), q('9007199254740992')), 1);
    assert.equal(compareQuantities(q('1e1000'), q(`1${'0'.repeat(998)}1e1`)), -1);
  });
});

describe('multiplyQuantity', () => {
  const cases: Array<[string, string, string]> = [
    ['2', '1.5', '3'],
    ['1Gi', '2', '2Gi'],
    ['100m', '3', '300m'],
    ['1', '0.1', '100m'],
    ['1.5Gi', '2', '3Gi'],
    ['1m', '0.5', '500u'],
    ['-2', '1.5', '-3'],
    ['5', '0', '0'],
  ];
  for (const [a, factor, expected] of cases) {
    it(`${a} × ${factor} = ${expected}`, () => {
      assert.equal(compareQuantities(multiplyQuantity(q(a), q(factor)), q(expected)), 0);
    });
  }

  it('supports limit <= ratio × request checks exactly', () => {
    const ratio = q('2');
    assert.ok(compareQuantities(q('3Gi'), multiplyQuantity(q('1.5Gi'), ratio)) <= 0);
    assert.ok(compareQuantities(q('3221225473'), multiplyQuantity(q('1.5Gi'), ratio)) > 0);
    assert.ok(compareQuantities(q('200m'), multiplyQuantity(q('100m'), ratio)) <= 0);
    assert.ok(compareQuantities(q('201m'), multiplyQuantity(q('100m'), ratio)) > 0);
  });

  it('does not round products to nano', () => {
    const half = multiplyQuantity(q('1n'), q('0.5'));
    assert.deepEqual([half.num, half.den], [1n, 2n * 10n ** 9n]);
    assert.equal(compareQuantities(half, q('1n')), -1);
    assert.equal(isZero(half), false);
  });

  it('returns a reduced fraction with a positive denominator', () => {
    const product = multiplyQuantity(q('-0.5'), q('0.4'));
    assert.deepEqual([product.num, product.den], [-1n, 5n]);
  });
});

describe('isZero', () => {
  for (const input of ['0', '-0', '+0', '0.000', '0Mi', '0e10', '0m', 0, -0]) {
    it(`${JSON.stringify(input)} is zero`, () => assert.equal(isZero(q(input)), true));
  }
  for (const input of ['1n', '-1n', '0.1n', '1', '1e-1000']) {
    it(`${JSON.stringify(input)} is not zero`, () => assert.equal(isZero(q(input)), false));
  }
});

describe('formatQuantity', () => {
  it('uses raw when it parses back to the same value', () => {
    for (const raw of ['1.5Mi', '500m', '1e3', '+1e+3', '10', '1E', '8Ei']) assert.equal(formatQuantity(q(raw)), raw);
    assert.equal(formatQuantity(q(1e21)), '1e+21');
  });

  const canonical: Array<[bigint, bigint, string]> = [
    [3n, 2n, '1500m'],
    [2n * KI ** 3n, 1n, '2Gi'],
    [1536n * KI ** 2n, 1n, '1536Mi'],
    [1000n, 1n, '1k'],
    [1024000n, 1n, '1024k'],
    [2048n, 1n, '2Ki'],
    [1n, 1000n, '1m'],
    [1n, 10n ** 9n, '1n'],
    [10n ** 21n, 1n, '1000E'],
    [1023n, 1n, '1023'],
    [-3n, 2n, '-1500m'],
    [0n, 1n, '0'],
    [1n, 3n, '~333333334n'],
    [1n, 2n * 10n ** 9n, '~1n'],
  ];
  for (const [num, den, expected] of canonical) {
    it(`renders ${num}/${den} as ${expected}`, () => {
      const value: Quantity = { raw: 'not a quantity', num, den };
      assert.equal(formatQuantity(value), expected);
    });
  }

  it('renders products canonically and keeps that as raw', () => {
    const product = multiplyQuantity(q('1.5Gi'), q('1'));
    assert.equal(product.raw, '1536Mi');
    assert.equal(formatQuantity(product), '1536Mi');
    assert.equal(formatQuantity(multiplyQuantity(q('1'), q('1.5'))), '1500m');
  });

  it('produces text that parses back to the same value when exact', () => {
    for (const input of ['1.5', '1.5Gi', '1024000', '-2Ki', '1e21', '123456789n', '7Ei']) {
      const rendered = formatQuantity(multiplyQuantity(q(input), q('1')));
      assert.equal(compareQuantities(q(rendered), q(input)), 0, `${input} → ${rendered}`);
    }
  });
});

describe('quantityToNumber', () => {
  const cases: Array<[string | number, number]> = [
    ['1.5Mi', 1572864],
    ['1m', 0.001],
    ['-0.5', -0.5],
    ['0', 0],
    ['1Ei', 2 ** 60],
    ['1e300', 1e300],
    ['1e-1000', 1e-9],
    ['1e1000', Number.POSITIVE_INFINITY],
    ['-1e1000', Number.NEGATIVE_INFINITY],
    [0.1, 0.1],
    ['123456789n', 0.123456789],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} ≈ ${expected}`, () => assert.equal(quantityToNumber(q(input)), expected));
  }

  it('stays finite when the numerator alone would overflow a double', () => {
    const value = quantityToNumber(multiplyQuantity(q('1e310'), q('1n')));
    assert.ok(Math.abs(value / 1e301 - 1) < 1e-12, String(value));
  });

  it('approximates non-terminating fractions', () => {
    const third = multiplyQuantity(q('1'), { raw: '', num: 1n, den: 3n });
    assert.ok(Math.abs(quantityToNumber(third) - 1 / 3) < 1e-15);
  });
});
