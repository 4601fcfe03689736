import assert from 'node:assert/strict'
import type { TestApp } from './build.js'

export const acme = { name: 'Acme Freight', code: 'CUST001', phone_number: '+254722000000' }
export const order = { customer_code: 'CUST001', item: 'Laptop', amount: '1250.50' }

export async function withCustomer(app: TestApp, fields: Record<string, unknown> = acme) {
  const res = await app.inject({ method: 'POST', url: '/api/customers/', payload: fields })
  assert.equal(res.statusCode, 201, res.body)
  return res.json()
}

export async function createOrder(app: TestApp, fields: Record<string, unknown> = order) {
  const res = await app.inject({ method: 'POST', url: '/api/orders/', payload: fields })
  assert.equal(res.statusCode, 201, res.body)
  return res.json()
}
