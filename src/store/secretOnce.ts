// A secret read (or made) once per store instance and then kept. A failed first read is not kept, so the
// next call tries again; every caller gets its own copy, so changing one buffer changes no other.
export function secretOnce(load: () => Promise<Buffer>): () => Promise<Buffer> {
  let secret: Promise<Buffer> | undefined;
  return () => {
    secret ??= load().catch((err: unknown) => {
      secret = undefined;
      throw err;
    });
    return secret.then((b) => Buffer.from(b));
  };
}
