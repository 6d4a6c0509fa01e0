import { describe, expect, it } from 'vitest';
import { compileGlob, selectPaths } from '../../../src/engine/providers/glob';

describe('buildspec globs', () => {
  it.each([
    // pattern, path, matches
    ['*.js', 'app.js', true],
    ['*.js', 'dist/app.js', false],
    ['*', '.env', true],
    ['dist/*.js', 'dist/app.js', true],
    ['dist/*', 'dist/js/app.js', false],
    ['**', 'a/b/c.txt', true],
    ['**/*', 'a/b/c.txt', true],
    ['**/*.xml', 'junit.xml', true],
    ['**/*.xml', 'reports/unit/junit.xml', true],
    ['**/*.xml', 'reports/unit/junit.xml.bak', false],
    ['dist/**/*.map', 'dist/app.js.map', true],
    ['dist/**/*.map', 'dist/js/vendor/lib.js.map', true],
    ['dist/**/*.map', 'src/app.js.map', false],
    ['dist/**', 'dist/a/b', true],
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['a/**/b', 'a/xb', false],
    ['./dist//js/', 'dist/js', true],
    ['file?.txt', 'file1.txt', true],
    ['file?.txt', 'file/.txt', false],
    ['file?.txt', 'file12.txt', false],
    ['[abc].txt', 'b.txt', true],
    ['[abc].txt', 'd.txt', false],
    ['[!abc].txt', 'd.txt', true],
    ['[^abc].txt', 'a.txt', false],
    ['[a-c]x', 'bx', true],
    ['[a-c]x', 'dx', false],
    ['[!a]', '/', false],
    ['[unclosed', '[unclosed', true],
    ['a+b(c).txt', 'a+b(c).txt', true],
    ['a.txt', 'abtxt', false],
    ['ünï*🙂', 'ünïcode🙂', true],
    ['*', 'a/b', false],
  ])('%s against %s: %s', (pattern, path, expected) => {
    expect(compileGlob(pattern).matches(path)).toBe(expected);
  });

  it('selects directories by their name, and applies excludes', () => {
    const paths = ['dist/css/site.css', 'dist/js/app.js', 'dist/js/app.js.map', 'docs/x.md'];
    expect(selectPaths(paths, ['dist'], ['**/*.map'])).toEqual(['dist/css/site.css', 'dist/js/app.js']);
    expect(selectPaths(paths, ['**'], ['dist/js'])).toEqual(['dist/css/site.css', 'docs/x.md']);
    expect(selectPaths(paths, ['dist/j*'])).toEqual(['dist/js/app.js', 'dist/js/app.js.map']);
    // A folder name matches whole segments only.
    expect(selectPaths(paths, ['dis', 'dist/j'])).toEqual([]);
  });

  it('answers adversarial patterns without backtracking (the result, not the time, is asserted)', () => {
    const as = 'a'.repeat(200);
    // Each of these took a backtracking matcher exponential or high-polynomial time.
    expect(compileGlob('*a*a*a*a*a*b').matches(as)).toBe(false);
    expect(compileGlob('*a*a*a*a*a*a').matches(as)).toBe(true);
    expect(compileGlob(`${'*a'.repeat(50)}*b`).matches(as)).toBe(false);
    const deep = Array.from({ length: 100 }, () => 'a').join('/');
    expect(compileGlob(`${'**/'.repeat(30)}b`).matches(deep)).toBe(false);
    expect(compileGlob(`${'**/a/'.repeat(20)}**`).matches(deep)).toBe(true);
    expect(compileGlob(`${'**/a*/'.repeat(20)}b`).matches(deep)).toBe(false);
    const long = `${'a/'.repeat(2000)}x.txt`;
    expect(compileGlob(`${'**/*a*/'.repeat(10)}**/*.log`).matches(long)).toBe(false);
    expect(selectPaths([as, deep], ['*a*a*a*a*a*b', `${'**/'.repeat(30)}*.log`])).toEqual([]);
  });
});
