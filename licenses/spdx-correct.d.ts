// spdx-correct ships no types; this is its documented call.
declare module 'spdx-correct' {
  function spdxCorrect(identifier: string, options?: { upgrade?: boolean }): string | null;
  export = spdxCorrect;
}
