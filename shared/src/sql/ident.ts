/** Quote an SQL identifier (doubling embedded quotes). Only ever applied to catalog names. */
export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}
