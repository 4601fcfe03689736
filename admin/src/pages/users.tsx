import type { Static } from '@sinclair/typebox'
import { useState } from 'preact/hooks'
import type { UserListReply, UserReply } from '../../../src/auth/schemas.js'
import { api, get } from '../api.js'
import { Field, FormFailure, SelectField, useForm } from '../form.js'
import { getSession } from '../session.js'
import { type Column, DataTable, useOrdering } from '../table.js'
import {
  Confirm,
  ErrorAlert,
  Flash,
  flash,
  focusSoon,
  formatDateTime,
  PageTitle,
  useResource,
} from '../ui.js'

type User = Static<typeof UserReply>

// The API returns every user at once, with no pages: sorting here sorts the whole list.
const SORT_VALUES = {
  username: (u: User) => u.username,
  role: (u: User) => u.role,
  state: (u: User) => (u.disabled ? 'disabled' : 'active'),
  created: (u: User) => u.created_at,
}
type UserSort = keyof typeof SORT_VALUES

function sorted(users: User[], ordering: string): User[] {
  const descending = ordering.startsWith('-')
  const value = SORT_VALUES[ordering.replace(/^-/, '') as UserSort]
  return [...users].sort((a, b) => value(a).localeCompare(value(b)) * (descending ? -1 : 1))
}

const ROLE_OPTIONS = [
  { value: 'client', label: 'client: issues and looks up tracking numbers' },
  { value: 'operator', label: 'operator: also customers and orders' },
  { value: 'admin', label: 'admin: also users' },
]

export function Users() {
  const users = useResource(() => get<Static<typeof UserListReply>>('/api/users/'), 'users')
  const [generation, setGeneration] = useState(0)
  const [toggleError, setToggleError] = useState<Error | undefined>()
  // The user whose Disable waits for a yes.
  const [confirming, setConfirming] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const me = getSession()?.name
  const toggleId = (user: User) => `user-toggle-${user.id}`

  async function setDisabled(user: User, disabled: boolean) {
    setToggleError(undefined)
    setBusy(true)
    try {
      await api<User>('PATCH', `/api/users/${encodeURIComponent(user.username)}/`, { disabled })
      flash(`${user.username} is ${disabled ? 'disabled: their tokens are revoked' : 'enabled again'}.`)
      setGeneration((n) => n + 1)
      users.reload()
    } catch (error) {
      setToggleError(error as Error)
    } finally {
      setBusy(false)
      setConfirming(null)
      // The button (Disable ↔ Enable) is back in place of the question: keep keyboard users on it.
      focusSoon(toggleId(user))
    }
  }

  const columns: Array<Column<User, UserSort>> = [
    { key: 'username', label: 'Username', cell: (u) => u.username, sort: 'username' },
    { key: 'role', label: 'Role', cell: (u) => u.role, sort: 'role' },
    {
      key: 'state',
      label: 'State',
      cell: (u) => (
        <span class={`badge ${u.disabled ? 'sms-failed' : 'sms-sent'}`}>
          {u.disabled ? 'disabled' : 'active'}
        </span>
      ),
      sort: 'state',
    },
    { key: 'created', label: 'Created', cell: (u) => formatDateTime(u.created_at), sort: 'created' },
    {
      key: 'actions',
      label: 'Actions',
      cell: (u) =>
        u.username === me ? (
          <span class="hint">you</span>
        ) : confirming === u.username ? (
          <Confirm
            question={`Disable ${u.username}? Their tokens are revoked at once.`}
            confirm={`Yes, disable ${u.username}`}
            cancel="Keep enabled"
            busy={busy}
            onConfirm={() => setDisabled(u, true)}
            onCancel={() => {
              setConfirming(null)
              focusSoon(toggleId(u))
            }}
          />
        ) : (
          <button
            type="button"
            id={toggleId(u)}
            class={u.disabled ? 'small' : 'small danger'}
            disabled={busy}
            // Enabling gives back access; disabling takes it away at once, so it asks first.
            onClick={() => (u.disabled ? setDisabled(u, false) : setConfirming(u.username))}
          >
            {u.disabled ? 'Enable' : 'Disable'}
            <span class="visually-hidden"> {u.username}</span>
          </button>
        ),
    },
  ]

  const ordering = useOrdering(columns, 'username') // the API's own order
  return (
    <>
      <PageTitle title="Users">Users</PageTitle>
      <Flash key={generation} />
      <ErrorAlert error={users.error ?? toggleError} />
      {users.data && (
        <DataTable
          caption="Users"
          columns={columns}
          rows={sorted(users.data.results, ordering)}
          rowKey={(u) => u.id}
          ordering={ordering}
          empty="No users."
        />
      )}
      <NewUser
        onCreated={(user) => {
          flash(`User ${user.username} (${user.role}) created.`)
          setGeneration((n) => n + 1)
          users.reload()
        }}
      />
    </>
  )
}

function NewUser({ onCreated }: { onCreated: (user: User) => void }) {
  const form = useForm('new-user', { username: '', password: '', role: 'operator' })
  const onSubmit = form.submit(async (values) => {
    onCreated(await api<User>('POST', '/api/users/', values))
    form.setValues({ username: '', password: '', role: values.role })
  })
  return (
    <section class="card" aria-labelledby="new-user-heading">
      <h2 id="new-user-heading">New user</h2>
      <FormFailure form={form} />
      <form class="form" onSubmit={onSubmit} noValidate>
        <Field
          form={form}
          name="username"
          label="Username"
          hint="3 to 64 characters: lowercase letters, digits and . _ @ -"
          autoComplete="off"
          autoCapitalize="none"
          spellcheck={false}
        />
        <Field
          form={form}
          name="password"
          label="Password"
          type="password"
          hint="At least 12 characters"
          autoComplete="new-password"
        />
        <SelectField form={form} name="role" label="Role" options={ROLE_OPTIONS} />
        <button type="submit" class="primary" disabled={form.busy}>
          {form.busy ? 'Creating…' : 'Create user'}
        </button>
      </form>
    </section>
  )
}
