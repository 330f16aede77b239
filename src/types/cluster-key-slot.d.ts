/** node-redis's own slot function (CRC16 of the key or its {hash tag}, modulo 16384), which ships without types. */
declare module 'cluster-key-slot' {
  export default function calculateSlot(key: string | Buffer): number;
}
