import './styles/base.css'
import './styles/data.css'
import './styles/forms.css'
import './styles/tables.css'
import { render } from 'preact'
import { App } from './app.js'
import { onLinkClick } from './router.js'

document.addEventListener('click', onLinkClick)
render(<App />, document.getElementById('root') as HTMLElement)
