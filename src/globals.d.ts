// ES2024 well-formed string methods (Node 20 has them; the bundled lib may not declare them).
interface String {
  isWellFormed(): boolean;
  toWellFormed(): string;
}
