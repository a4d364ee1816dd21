import './base.css';
import './dashboard.css';
import './dag.css';
