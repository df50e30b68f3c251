import { InputError } from '@im/errors';

/**
 * Passwords that lead every breach list, lower-cased, 12 characters or more (shorter ones fail the
 * length rule already), and the words most of the rest are built from ("Password2024!").
 */
const COMMON_PASSWORDS = new Set([
  '123456789012',
  '1234567890123',
  '12345678901234',
  '123456789123',
  '111111111111',
  '000000000000',
  '123123123123',
  'qwertyuiop12',
  'qwertyuiopasdf',
  'qwertyuiopasdfghjkl',
  '1q2w3e4r5t6y',
  '1qaz2wsx3edc',
  'zaq12wsxcde3',
  'qazwsxedcrfv',
  'passwordpassword',
  'password1234',
  'password12345',
  'password123456',
  'iloveyou1234',
  'administrator',
  'administrator1',
  'letmeinletmein',
  'changeme1234',
  'welcome12345',
  'trustno1trustno1',
  'abcdefghijkl',
  'abcd1234abcd1234',
  'asdfghjkl123',
  'football1234',
  'baseball1234',
  'superman1234',
  'princess1234',
  'sunshine1234',
  'starwars1234',
  'whatever1234',
  'correcthorsebatterystaple',
]);

/** Base words: a password that is one of these plus digits and symbols is refused. */
const COMMON_WORDS = new Set([
  'password',
  'passw',
  'pass',
  'passwort',
  'motdepasse',
  'contrasena',
  'qwerty',
  'qwertyuiop',
  'qwertz',
  'azerty',
  'asdf',
  'asdfgh',
  'asdfghjkl',
  'zxcvbnm',
  'admin',
  'administrator',
  'root',
  'letmein',
  'welcome',
  'iloveyou',
  'monkey',
  'dragon',
  'master',
  'login',
  'secret',
  'changeme',
  'default',
  'abc',
  'abcdef',
  'football',
  'baseball',
  'superman',
  'princess',
  'sunshine',
  'starwars',
  'shadow',
  'whatever',
  'trustno',
  'hello',
  'freedom',
  'summer',
  'winter',
  'spring',
  'autumn',
  'test',
  'guest',
  'user',
]);

/** Why a password is refused, or undefined when it passes (the length is checked by the schema). */
export function passwordWeakness(password: string, username: string | undefined): string | undefined {
  const lower = password.toLowerCase();
  if (COMMON_PASSWORDS.has(lower)) return 'is one of the most common passwords; choose another';
  const letters = lower.replace(/[^\p{L}]/gu, '');
  if (COMMON_WORDS.has(letters))
    return `is a common word ("${letters}") with digits or symbols; choose a less guessable password`;
  if (/^(.)\1+$/u.test(password)) return 'repeats one character; choose a less guessable password';
  if (isSequence(lower)) return 'is a run of consecutive characters; choose a less guessable password';
  const name = username?.trim().toLowerCase();
  if (name && name.length >= 3 && lower.includes(name)) return 'may not contain the user name';
  return undefined;
}

/** Throws a 400 naming the field when {@link passwordWeakness} refuses the password. */
export function assertPasswordPolicy(password: string, username: string | undefined, path: string): void {
  const why = passwordWeakness(password, username);
  if (why) throw new InputError(`The password ${why}.`, [{ path, message: why }]);
}

function isSequence(s: string): boolean {
  if (s.length < 2) return false;
  const step = s.charCodeAt(1) - s.charCodeAt(0);
  if (step !== 1 && step !== -1) return false;
  for (let i = 2; i < s.length; i++) if (s.charCodeAt(i) - s.charCodeAt(i - 1) !== step) return false;
  return true;
}
