import { api } from '../api.js'
import { Field, FormFailure, useForm } from '../form.js'
import { type SignedOutReason, startSession, type TokenPair } from '../session.js'
import { PageTitle } from '../ui.js'

const NOTICES: Record<Exclude<SignedOutReason, null>, string> = {
  'signed-out': 'You have signed out.',
  expired: 'Your session has ended. Please sign in again.',
}

export function SignIn({ reason }: { reason: SignedOutReason }) {
  const form = useForm('sign-in', { username: '', password: '' })
  const onSubmit = form.submit(async (values) => {
    startSession(await api<TokenPair>('POST', '/api/token/', values, { anonymous: true }))
  })
  return (
    <main id="main" class="sign-in">
      <div class="card narrow">
        <p class="brand-large" aria-hidden="true">
          Waybill
        </p>
        <PageTitle title="Sign in">Sign in to Waybill</PageTitle>
        <div role="status">{reason && <p class="alert info">{NOTICES[reason]}</p>}</div>
        <FormFailure form={form} />
        <form onSubmit={onSubmit} noValidate>
          <Field form={form} name="username" label="Username" autoComplete="username" autoCapitalize="none" />
          <Field
            form={form}
            name="password"
            label="Password"
            type="password"
            autoComplete="current-password"
          />
          <button type="submit" class="primary" disabled={form.busy}>
            {form.busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      </div>
    </main>
  )
}
