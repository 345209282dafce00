/** Reading the emulator's HTML pages in tests that drive them over HTTP, the way a browser would. */

/** The text of an HTML attribute value as the emulator's pages escape it. */
export function unescapeHtml(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
