// kafkajs against a millrace Kafka listener. The broker address comes from
// MILLRACE_KAFKA (host:port); run.sh starts a millrace server and sets it,
// and so does the Go test internal/kafka TestKafkaJS.
//
// For each codec kafkajs supports here (none, gzip built in, snappy with
// kafkajs-snappy): create a topic, produce keyed records with headers, an
// empty value and a ~1 MiB value, consume them back with a consumer group
// and compare: byte-identical, offsets dense, per-key order kept.
'use strict'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec

const broker = process.env.MILLRACE_KAFKA
if (!broker) {
  throw new Error('set MILLRACE_KAFKA to the millrace Kafka listener (host:port)')
}

const kafka = new Kafka({ clientId: 'millrace-kafkajs-test', brokers: [broker], logLevel: logLevel.WARN })

function workload (n) {
  const out = []
  for (let i = 0; i < n; i++) {
    let value = Buffer.from(`value-${i}-` + 'x'.repeat(i % 50))
    if (i % 25 === 7) value = Buffer.alloc(0)
    if (i === Math.floor(n / 2)) value = Buffer.alloc(1 << 20, i % 256)
    out.push({ key: `key-${i % 10}`, value, headers: { seq: String(i), origin: 'kafkajs' } })
  }
  return out
}

const codecs = [['none', CompressionTypes.None], ['gzip', CompressionTypes.GZIP], ['snappy', CompressionTypes.Snappy]]

for (const [name, codec] of codecs) {
  test(`produce and consume with ${name}`, { timeout: 60000 }, async () => {
    const topic = `kafkajs-${name}-${Date.now()}`
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: '2097152' }] }]
    })
    await admin.disconnect()

    const records = workload(200)
    const producer = kafka.producer({ allowAutoTopicCreation: false })
    await producer.connect()
    // One record per send for the large one keeps every batch under max.message.bytes.
    for (let i = 0; i < records.length; i += 20) {
      await producer.send({ topic, acks: -1, compression: codec, messages: records.slice(i, i + 20) })
    }
    await producer.disconnect()

    const consumer = kafka.consumer({ groupId: `g-${topic}`, maxBytesPerPartition: 4 << 20, maxWaitTimeInMs: 100 })
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    const got = []
    await new Promise((resolve, reject) => {
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          got.push({ partition, offset: Number(message.offset), message })
          if (got.length === records.length) resolve()
        }
      }).catch(reject)
    })
    await consumer.disconnect()

    const next = new Map()
    const lastSeqOfKey = new Map()
    const bySeq = new Map()
    for (const { partition, offset, message } of got.sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
      assert.equal(offset, next.get(partition) ?? 0, `partition ${partition}: offsets must be dense`)
      next.set(partition, offset + 1)
      const seq = Number(message.headers.seq.toString())
      const key = message.key.toString()
      assert.ok(!(lastSeqOfKey.get(key) >= seq), `key ${key}: record ${seq} out of order`)
      lastSeqOfKey.set(key, seq)
      bySeq.set(seq, message)
    }
    assert.equal(bySeq.size, records.length)
    records.forEach((r, i) => {
      const m = bySeq.get(i)
      assert.ok(m, `record ${i} not consumed`)
      assert.equal(m.key.toString(), r.key)
      assert.ok(Buffer.from(m.value ?? []).equals(r.value), `record ${i}: value differs`)
      assert.equal(m.headers.origin.toString(), 'kafkajs')
    })
  })
}
