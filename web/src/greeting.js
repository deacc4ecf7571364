// The greeting that completes tasks, and the rule the server applies to recognise it
// (src/app/domain/tasks.rs `is_greeting`): case does not matter, nor whitespace and punctuation
// around it ("hi-cosmospark!" counts).

export const GREETING = 'Hi-CosmosPark';

// ASCII punctuation plus the marks people put around a greeting, as on the server.
const MARK = '\\s!-\\/:-@\\[-`{-~¡¿“”‘’«»…。！？';
const AROUND = new RegExp(`^[${MARK}]+|[${MARK}]+$`, 'gu');

/** Is this message text the greeting? */
export function isGreeting(text) {
  return String(text ?? '').replace(AROUND, '').toLowerCase() === GREETING.toLowerCase();
}
